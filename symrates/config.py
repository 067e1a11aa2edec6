"""Run-time configuration: where compiled kernels are cached, threads, compiler flags.

A :class:`Config` is an immutable value that is passed down explicitly to whatever compiles or
runs kernels; there is no global configuration object. :meth:`Config.default` reads the
environment once, when it is called.

Environment variables read by :meth:`Config.default`:

``SYMRATES_CACHE_DIR``
    Directory of the compiled-kernel cache (default: the user cache dir, via ``platformdirs``).
``SYMRATES_NUM_THREADS``
    Default number of threads of compiled kernels (default: all usable cores).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import operator
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Config", "check_n_threads", "ENV_CACHE_DIR", "ENV_NUM_THREADS"]

ENV_CACHE_DIR = "SYMRATES_CACHE_DIR"
ENV_NUM_THREADS = "SYMRATES_NUM_THREADS"


def check_n_threads(value: Any, *, name: str = "n_threads") -> int | None:
    """Validate a requested number of threads.

    Parameters
    ----------
    value : int or None
        ``None`` (use all usable cores) or a positive integer; ``bool`` and floats are rejected.
    name : str, optional
        How the value is named in the error message (an argument or an environment variable).

    Returns
    -------
    int or None
        ``value`` as a plain ``int``, or ``None``.

    Raises
    ------
    ValueError
        If ``value`` is neither ``None`` nor an integer >= 1.

    Examples
    --------
    >>> check_n_threads(4)
    4
    >>> check_n_threads(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        number = None
    else:
        number = operator.index(value)
    if number is None or number < 1:
        raise ValueError(
            f"{name} must be None (use all usable cores) or a positive integer, got {value!r}. "
            f"Use {name}=1 for a serial run."
        )
    return number


def _check_flags(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(flag, str) for flag in value):
        hint = ""
        if isinstance(value, str):
            hint = f" Split it into separate flags: {tuple(value.split())!r}."
        raise ValueError(
            f"{name} must be a tuple of strings such as ('-O3', '-g'), got {value!r}.{hint}"
        )
    return tuple(value)


@dataclass(frozen=True)
class Config:
    """Settings for compiling and running kernels; immutable, passed down explicitly.

    Parameters
    ----------
    cache_dir : pathlib.Path
        Directory of the compiled-kernel cache (made absolute; ``~`` is expanded).
    openmp : bool or None, optional
        ``None`` (default): use OpenMP where it is available, else run serial and log it;
        ``True``: OpenMP is required (compiling fails with an error if it is missing);
        ``False``: serial kernels.
    n_threads : int or None, optional
        Threads of compiled kernels; ``None`` uses all usable cores
        (see :func:`symrates.compile.openmp.effective_threads`).
    cflags : tuple of str, optional
        C compiler flags for kernels, ``("-O3",)`` by default. ``-march=native`` and
        ``-ffast-math`` are never added unless given here.
    ldflags : tuple of str, optional
        Extra linker flags for kernels.
    cc : str or None, optional
        C compiler command; ``None`` uses ``$CC`` or the compiler Python was built with.

    Examples
    --------
    >>> from symrates.config import Config
    >>> config = Config(cache_dir="/tmp/symrates-cache", n_threads=2)
    >>> config.with_(n_threads=1).n_threads
    1
    >>> config.cflags
    ('-O3',)
    """

    cache_dir: Path
    openmp: bool | None = None
    n_threads: int | None = None
    cflags: tuple[str, ...] = ("-O3",)
    ldflags: tuple[str, ...] = ()
    cc: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.cache_dir, (str, os.PathLike)):
            raise ValueError(
                f"cache_dir must be a path (str or pathlib.Path), got {self.cache_dir!r}."
            )
        cache_dir = Path(self.cache_dir).expanduser().absolute()
        if not (self.openmp is None or isinstance(self.openmp, bool)):
            raise ValueError(
                f"openmp must be None (use OpenMP where available), True (require it) or False "
                f"(serial), got {self.openmp!r}."
            )
        if self.cc is not None and (not isinstance(self.cc, str) or not self.cc.strip()):
            raise ValueError(
                f"cc must be None (use $CC or Python's compiler) or a compiler command such as "
                f"'gcc', got {self.cc!r}."
            )
        object.__setattr__(self, "cache_dir", cache_dir)
        object.__setattr__(self, "n_threads", check_n_threads(self.n_threads))
        object.__setattr__(self, "cflags", _check_flags(self.cflags, "cflags"))
        object.__setattr__(self, "ldflags", _check_flags(self.ldflags, "ldflags"))

    @classmethod
    def default(cls) -> Config:
        """The configuration given by the environment, with defaults for everything else.

        Reads ``SYMRATES_CACHE_DIR`` (else ``platformdirs.user_cache_dir("symrates")``) and
        ``SYMRATES_NUM_THREADS`` (else ``None``: all usable cores). Empty values count as unset.

        Returns
        -------
        Config

        Raises
        ------
        ValueError
            If ``SYMRATES_NUM_THREADS`` is not a positive integer.

        Examples
        --------
        >>> from symrates.config import Config
        >>> Config.default().cflags
        ('-O3',)
        """
        env = tuple(os.environ.get(name, "") for name in _DEFAULT_ENV)
        return _default_config(cls, env)

    @classmethod
    def _from_environment(cls, env: tuple[str, ...]) -> Config:
        cache_dir = env[0].strip() or platformdirs.user_cache_dir("symrates")
        raw_threads = env[1].strip()
        n_threads = None
        if raw_threads:
            try:
                n_threads = int(raw_threads)
            except ValueError:
                n_threads = raw_threads  # rejected below, with the variable's name
            n_threads = check_n_threads(n_threads, name=f"environment variable {ENV_NUM_THREADS}")
        return cls(cache_dir=Path(cache_dir), n_threads=n_threads)

    def with_(self, **changes: Any) -> Config:
        """Return a copy with some fields changed (the original is unchanged).

        Parameters
        ----------
        **changes
            New values of fields of :class:`Config`, validated as in the constructor.

        Returns
        -------
        Config

        Raises
        ------
        TypeError
            If a name is not a field of :class:`Config`; the message lists the valid fields.
        ValueError
            If a new value is invalid.

        Examples
        --------
        >>> from symrates.config import Config
        >>> base = Config(cache_dir="/tmp/symrates-cache")
        >>> base.with_(openmp=False, cflags=("-O2",)).cflags
        ('-O2',)
        """
        fields = [field.name for field in dataclasses.fields(self)]
        unknown = [name for name in changes if name not in fields]
        if unknown:
            hint = ""
            for name in unknown:
                close = difflib.get_close_matches(name, fields, n=1)
                if close:
                    hint += f" Did you mean {close[0]!r} instead of {name!r}?"
            raise TypeError(
                f"Config.with_() got unknown field(s) {', '.join(map(repr, unknown))}; "
                f"valid fields: {', '.join(fields)}.{hint}"
            )
        return dataclasses.replace(self, **changes)


#: The environment variables :meth:`Config.default` depends on (the last two through
#: ``platformdirs``).
_DEFAULT_ENV = (ENV_CACHE_DIR, ENV_NUM_THREADS, "XDG_CACHE_HOME", "HOME")


@functools.lru_cache(maxsize=16)
def _default_config(cls: type, env: tuple[str, ...]) -> Config:
    """:meth:`Config.default` for one state of the environment (it is read on every run)."""
    return cls._from_environment(env)
