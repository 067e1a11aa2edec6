#!/usr/bin/env python3
"""BENCHMARKS.md B2: whole-brain-size networks of 6-state Jansen–Rit models, Heun, dt = 1e-4 s.

N = 80 (10 s simulated) and N = 512 (2 s): dense random W with zero diagonal and rows normalised
to 1; the coupling K * sum_j W[i, j] S(y1_j - y2_j) enters the y4 equation (K = 1). Prints one
JSON line per case with simulated seconds per wall second for symrates' compiled engine with 1 and
2 threads, and for a hand-vectorised numpy Heun loop run in the same script (the baseline), plus
the largest difference between the two final states.

    python benchmarks/b2_whole_brain.py                 # both sizes
    python benchmarks/b2_whole_brain.py -n 80 --t-end 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import symrates as sr  # noqa: E402

A, B, a, b, e0, v0, r, p = 3.25, 22.0, 100.0, 50.0, 2.5, 6.0, 0.56, 220.0
C = 135.0
C1, C2, C3, C4 = C, 0.8 * C, 0.25 * C, 0.25 * C

#: REFERENCES.md §1a with the pyramidal firing rate m = S(y1 - y2) as an output to couple from
UNIT = sr.OperatorTemplate(
    "jr",
    [
        "y0' = y3", "y1' = y4", "y2' = y5",
        "y3' = A*a*m - 2*a*y3 - a^2*y0",
        "y4' = A*a*(p + C2*2*e0/(1 + exp(r*(v0 - C1*y0)))) - 2*a*y4 - a^2*y1",
        "y5' = B*b*C4*2*e0/(1 + exp(r*(v0 - C3*y0))) - 2*b*y5 - b^2*y2",
        "m = 2*e0/(1 + exp(r*(v0 - y1 + y2)))",
    ],
    {"y0": "variable(0.0)", "y1": "variable(0.0)", "y2": "variable(0.0)",
     "y3": "variable(0.0)", "y4": "variable(0.0)", "y5": "variable(0.0)", "m": "output(0.0)",
     "p": f"input({p})", "A": A, "B": B, "a": a, "b": b, "e0": e0, "v0": v0, "r": r,
     "C1": C1, "C2": C2, "C3": C3, "C4": C4},
)


def connectivity(n: int, seed: int = 1) -> np.ndarray:
    W = np.random.default_rng(seed).uniform(size=(n, n))
    np.fill_diagonal(W, 0.0)
    return W / W.sum(axis=1, keepdims=True)


def numpy_heun(W: np.ndarray, K: float, t_end: float, dt: float) -> np.ndarray:
    """The baseline: the same network written by hand in numpy, Heun's method."""
    n = W.shape[0]
    y = np.zeros((6, n))

    def S(v):
        return 2 * e0 / (1 + np.exp(r * (v0 - v)))

    def f(y):
        y0, y1, y2, y3, y4, y5 = y
        m = S(y1 - y2)
        return np.array([
            y3, y4, y5,
            A * a * m - 2 * a * y3 - a * a * y0,
            A * a * (p + K * (W @ m) + C2 * S(C1 * y0)) - 2 * a * y4 - a * a * y1,
            B * b * C4 * S(C3 * y0) - 2 * b * y5 - b * b * y2,
        ])

    for _ in range(int(round(t_end / dt))):
        k1 = f(y)
        k2 = f(y + dt * k1)
        y = y + 0.5 * dt * (k1 + k2)
    return y


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, nargs="*", default=[80, 512])
    ap.add_argument("--t-end", type=float, default=None, help="default: 10 s (N=80), 2 s (N=512)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-t-end", type=float, default=0.2,
                    help="simulated time of the slow numpy baseline (rate is per second)")
    args = ap.parse_args(argv)
    dt, K = 1e-4, 1.0
    for n in args.n:
        t_end = args.t_end or (10.0 if n <= 80 else 2.0)
        W = connectivity(n)
        net = sr.network(UNIT, n, couplings=[sr.Coupling("m", "p", K * W)])
        system = sr.build(net)
        sr.simulate(system, dt, dt=dt, method="heun", backend="cython", outputs=["y1"])
        row = {"case": "B2", "n": n, "t_end": t_end}
        finals = {}
        for threads in (1, 2):
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = sr.simulate(system, t_end, dt=dt, method="heun", backend="cython",
                                  sampling=1e-3, outputs=["y1", "y2"], n_threads=threads)
                times.append(time.perf_counter() - t0)
            finals[threads] = res.final_state
            row[f"sim_s_per_wall_s_{threads}_thread"] = t_end / statistics.median(times)
        row["threads_bit_identical"] = all(
            np.array_equal(finals[1][k], finals[2][k]) for k in finals[1])
        tb = min(args.baseline_t_end, t_end)
        t0 = time.perf_counter()
        y_ref = numpy_heun(W, K, tb, dt)
        row["numpy_baseline_sim_s_per_wall_s"] = tb / (time.perf_counter() - t0)
        short = sr.simulate(system, tb, dt=dt, method="heun", backend="cython", n_threads=1)
        got = np.array([short.final_state[s] for s in system.states])
        row["max_rel_diff_vs_numpy_baseline"] = float(
            np.max(np.abs(got - y_ref) / np.maximum(np.abs(y_ref).max(axis=1, keepdims=True),
                                                    1e-300)))
        row["ratio_vs_numpy_baseline_1_thread"] = (
            row["sim_s_per_wall_s_1_thread"] / row["numpy_baseline_sim_s_per_wall_s"])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
