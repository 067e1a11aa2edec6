"""A counter-based normal random stream: one number per (seed, step, index), no state.

Noise must not depend on the thread count, on how units are split among threads or chunks, or on
the backend (DESIGN.md §5). A counter-based generator gives that by construction: the number for
``(seed, step, index)`` is a pure function of those three integers. Here it is SplitMix64
(Steele, Lea & Flood 2014) evaluated at two counters, turned into two uniforms in (0, 1) and one
standard normal by the Box–Muller transform. The compiled kernels evaluate the same function.

    key    = mix64(seed * GAMMA + GAMMA)
    c      = 2 * (step * stride + index)
    u_j    = ((mix64(key + (c + j + 1) * GAMMA) >> 11) + 0.5) * 2**-53,   j = 0, 1
    normal = sqrt(-2 log u_0) * cos(2 pi u_1)

``stride`` is the number of indices per step (e.g. the state-vector length); all arithmetic wraps
modulo 2**64.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GAMMA", "mix64", "uniforms", "normals"]

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SCALE = 2.0 ** -53


def mix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(seed: int) -> np.uint64:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
    with np.errstate(over="ignore"):
        # int(): numpy integer seeds (np.int64(5), rng.integers(...)) would turn 2**64 into
        # their own type, which overflows
        return mix64(np.uint64(int(seed) % 2**64) * GAMMA + GAMMA)[()]


def uniforms(seed: int, counters: np.ndarray) -> np.ndarray:
    """Uniform doubles in (0, 1), one per (non-negative) 64-bit counter."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = mix64(_key(seed) + (c + np.uint64(1)) * GAMMA)
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * _SCALE


def normals(seed: int, step: int, index: np.ndarray, stride: int) -> np.ndarray:
    """Standard normal numbers for ``(seed, step, index)``, ``0 <= index < stride``.

    Examples
    --------
    >>> a = normals(7, 3, np.arange(4), stride=4)
    >>> b = normals(7, 3, np.array([2, 3]), stride=4)      # any subset, in any order
    >>> bool(np.all(a[2:] == b))
    True
    """
    index = np.asarray(index, dtype=np.uint64)
    with np.errstate(over="ignore"):
        c = np.uint64(2) * (np.uint64(step) * np.uint64(stride) + index)
    u0 = uniforms(seed, c)
    u1 = uniforms(seed, c + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u0)) * np.cos(2.0 * np.pi * u1)
