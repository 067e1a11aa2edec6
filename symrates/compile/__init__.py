"""Compiling generated kernels: OpenMP and compiler probing, thread counts, the kernel cache.

See :mod:`symrates.compile.openmp`, :mod:`symrates.compile.cache` and
:mod:`symrates.compile.build`.
"""

from symrates.compile.build import load_kernel
from symrates.compile.cache import STATS, clear_cache
from symrates.compile.openmp import (
    CompilerInfo,
    effective_threads,
    openmp_available,
    probe_compiler,
    resolve_openmp,
    usable_cores,
)

__all__ = [
    "STATS",
    "clear_cache",
    "load_kernel",
    "CompilerInfo",
    "effective_threads",
    "openmp_available",
    "probe_compiler",
    "resolve_openmp",
    "usable_cores",
]
