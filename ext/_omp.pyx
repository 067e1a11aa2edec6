"""What the OpenMP runtime of this installation provides.

Built by setup.py from ext/_omp.pyx as ``symrates._ext._omp``; with or without OpenMP, depending
on what the install-time probe found (``SYMRATES_DISABLE_OPENMP=1`` forces a serial build).
"""

from conditional_omp cimport SYMRATES_OPENMP_VERSION, omp_get_max_threads


def openmp_enabled():
    """Return True if this extension was compiled with OpenMP.

    Returns
    -------
    bool
        True for a parallel build, False for the serial fallback.

    Examples
    --------
    >>> from symrates._ext import _omp
    >>> _omp.openmp_enabled() in (True, False)
    True
    """
    return SYMRATES_OPENMP_VERSION != 0


def max_threads():
    """Return the number of threads a parallel region would use (``omp_get_max_threads``).

    Honours ``OMP_NUM_THREADS``; always 1 in a serial build.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from symrates._ext import _omp
    >>> _omp.max_threads() >= 1
    True
    """
    return omp_get_max_threads()


def openmp_version():
    """Return the ``_OPENMP`` macro the extension was compiled with (e.g. 201511), 0 without.

    Returns
    -------
    int
        The OpenMP specification date as yyyymm, or 0 in a serial build.

    Examples
    --------
    >>> from symrates._ext import _omp
    >>> _omp.openmp_version() >= 0
    True
    """
    return SYMRATES_OPENMP_VERSION
