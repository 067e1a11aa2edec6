"""Statistics that accumulate block by block, so a window never has to be held whole.

Every accumulator takes blocks of shape ``(n_samples, *shape)`` (time first) in time order and
returns arrays of ``shape``. Means and variances merge blocks with Chan's pairwise update; the
spectrum is Welch's average of Hann-windowed periodograms of half-overlapping segments, built from
the segments completed so far (a segment may span blocks).
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from .spec import SPECTRAL

__all__ = ["Moments", "Welch", "SignalStats", "dominant"]


class Moments:
    """Count, mean, sum of squared deviations, extrema and last value of blocks of samples."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = self.m2 = self.min = self.max = self.last = None

    def add(self, x: np.ndarray) -> None:
        m = x.shape[0]
        if m == 0:
            return
        mean = x.mean(axis=0)
        m2 = ((x - mean) ** 2).sum(axis=0)
        if self.n == 0:
            self.mean, self.m2 = mean, m2
            self.min, self.max = x.min(axis=0), x.max(axis=0)
        else:
            n = self.n + m
            delta = mean - self.mean
            self.mean = self.mean + delta * (m / n)
            self.m2 = self.m2 + m2 + delta**2 * (self.n * m / n)
            self.min = np.minimum(self.min, x.min(axis=0))
            self.max = np.maximum(self.max, x.max(axis=0))
        self.n += m
        self.last = x[-1].copy()

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n)


class Welch:
    """Welch's power spectral density, one segment of ``nperseg`` samples at a time.

    Matches ``scipy.signal.welch(x, fs, window="hann", nperseg=nperseg,
    noverlap=nperseg // 2, detrend="constant", scaling="density", axis=0)`` on the whole series.
    """

    def __init__(self, nperseg: int, fs: float) -> None:
        self.nperseg, self.fs = int(nperseg), float(fs)
        self.step = self.nperseg - self.nperseg // 2
        self.taper = scipy.signal.get_window("hann", self.nperseg)
        self.scale = 1.0 / (self.fs * float(np.sum(self.taper**2)))
        self.pending: np.ndarray | None = None
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, x: np.ndarray) -> None:
        data = x if self.pending is None else np.concatenate([self.pending, x])
        start = 0
        while start + self.nperseg <= data.shape[0]:
            seg = data[start:start + self.nperseg]
            seg = (seg - seg.mean(axis=0)) * self.taper.reshape((-1,) + (1,) * (seg.ndim - 1))
            power = np.abs(np.fft.rfft(seg, axis=0)) ** 2
            self.total = power if self.total is None else self.total + power
            self.count += 1
            start += self.step
        self.pending = data[start:].copy()

    @property
    def frequencies(self) -> np.ndarray:
        return np.fft.rfftfreq(self.nperseg, d=1.0 / self.fs)

    def psd(self) -> np.ndarray:
        """The averaged one-sided density, shape ``(n_frequencies, *shape)``."""
        if self.count == 0:
            raise ValueError("Welch: fewer samples than one segment")
        out = self.total * (self.scale / self.count)
        last = None if self.nperseg % 2 else -1      # the Nyquist bin is not doubled
        out[1:last] *= 2.0
        return out


def dominant(freqs: np.ndarray, psd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency (refined by a parabola through the log-density at the peak and its neighbours)
    and density of the highest non-zero-frequency peak, along axis 0."""
    body = psd[1:]
    k = np.argmax(body, axis=0) + 1
    peak = np.take_along_axis(psd, k[None], axis=0)[0]
    df = freqs[1] - freqs[0]
    inner = (k > 1) & (k < psd.shape[0] - 1)
    kk = np.clip(k, 1, psd.shape[0] - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.take_along_axis(psd, (kk - 1)[None], axis=0)[0])
        b = np.log(np.take_along_axis(psd, kk[None], axis=0)[0])
        c = np.log(np.take_along_axis(psd, (kk + 1)[None], axis=0)[0])
        shift = 0.5 * (a - c) / (a - 2.0 * b + c)
    ok = inner & np.isfinite(shift) & (np.abs(shift) <= 0.5)
    freq = (k + np.where(ok, shift, 0.0)) * df
    return freq, peak


class SignalStats:
    """The statistics of one signal asked for, fed block by block."""

    def __init__(self, stats: tuple[str, ...], nperseg: int, fs: float) -> None:
        self.stats = stats
        self.moments = Moments()
        self.welch = Welch(nperseg, fs) if any(s in SPECTRAL for s in stats) else None

    def add(self, x: np.ndarray) -> None:
        self.moments.add(x)
        if self.welch is not None:
            self.welch.add(x)

    def result(self) -> dict[str, np.ndarray]:
        m = self.moments
        out = {}
        for name in self.stats:
            if name in ("mean", "min", "max"):
                out[name] = getattr(m, name)
            elif name == "std":
                out[name] = m.std
            elif name == "final":
                out[name] = m.last
        if self.welch is not None:
            freq, power = dominant(self.welch.frequencies, self.welch.psd())
            # a constant signal has no dominant frequency: report 0 (and power 0)
            flat = m.std <= 1e-12 * np.maximum(1.0, np.abs(m.mean))
            if "frequency" in self.stats:
                out["frequency"] = np.where(flat, 0.0, freq)
            if "power" in self.stats:
                out["power"] = np.where(flat, 0.0, power)
        return {k: np.asarray(v, dtype=float) for k, v in out.items()}
