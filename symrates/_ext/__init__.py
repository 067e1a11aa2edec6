"""Helpers compiled when symrates is installed (built by setup.py from ``ext/``).

``symrates._ext._omp`` reports whether the installation was built with OpenMP
(``openmp_enabled()``, ``max_threads()``, ``openmp_version()``); use
:func:`symrates.compile.openmp.openmp_available` rather than importing it directly.
:func:`get_include` locates ``conditional_omp.h`` and ``conditional_omp.pxd`` for kernels
that symrates compiles at run time.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["get_include"]

_SHARED = ("conditional_omp.h", "conditional_omp.pxd")


def get_include() -> str:
    """Return the directory holding ``conditional_omp.h`` and ``conditional_omp.pxd``.

    An installed package carries them in ``symrates/_ext/include``; an editable install or a
    source checkout uses ``ext/`` of the repository.

    Returns
    -------
    str
        An absolute directory, for both the C include path and the Cython include path.

    Raises
    ------
    FileNotFoundError
        If neither location holds the files (a broken installation).

    Examples
    --------
    >>> from symrates._ext import get_include
    >>> import os
    >>> os.path.isfile(os.path.join(get_include(), "conditional_omp.h"))
    True
    """
    here = Path(__file__).resolve().parent
    candidates = (here / "include", here.parents[1] / "ext")
    for directory in candidates:
        if all((directory / name).is_file() for name in _SHARED):
            return str(directory)
    raise FileNotFoundError(
        f"The shared kernel headers {', '.join(_SHARED)} are in none of "
        f"{', '.join(map(str, candidates))}: the symrates installation is incomplete. "
        "Reinstall it with `python -m pip install .`."
    )
