"""Compiling generated kernels: OpenMP and compiler probing, thread counts.

See :mod:`symrates.compile.openmp`.
"""

from symrates.compile.openmp import (
    CompilerInfo,
    effective_threads,
    openmp_available,
    probe_compiler,
    resolve_openmp,
    usable_cores,
)

__all__ = [
    "CompilerInfo",
    "effective_threads",
    "openmp_available",
    "probe_compiler",
    "resolve_openmp",
    "usable_cores",
]
