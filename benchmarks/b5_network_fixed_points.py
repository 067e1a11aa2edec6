#!/usr/bin/env python3
"""B5: fixed points of a Wilson-Cowan network, sparse path vs the flattened dense path.

N bistable Wilson-Cowan units (the 1972 hysteresis parameters), about 10 random excitatory
inputs per unit (weights uniform in [0, 0.02], seed 7), drives P uniform in [-0.1, 0.1];
``sr.fixed_points`` with three guesses (all units high, half high, unit 0 on the middle branch)
plus the default start points (initial state and a short simulation). Each measurement builds
the network afresh, so it includes everything a user waits for: lambdifying the derivatives, the
Newton solves and the eigenvalues.

* ``sparse``: ``method="sparse"`` (structured Jacobian, sparse LU; all eigenvalues densely up to
  1,000 states, the 10 rightmost by ARPACK above), at every N.
* ``dense``: ``method="dense"`` (the flattened sympy view, lambdified, dense LU), at N = 200 only:
  it builds one sympy expression per state and takes tens of seconds already there.

Prints one JSON line per case (median of ``--repeat`` runs) and a summary line with the ratio
dense / sparse at N = 200 from the same run, and how far the two paths' results differ. BLAS is
pinned to one thread (as in the other benchmarks): on a shared machine a multi-threaded OpenBLAS
spins against other processes and turns a 0.05 s eigenvalue call into seconds of noise.

    python benchmarks/b5_network_fixed_points.py
    python benchmarks/b5_network_fixed_points.py -N 200 1000 --repeat 5
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

import symrates as sr  # noqa: E402

HYST = {"c1": 12.0, "c2": 4.0, "c3": 13.0, "c4": 11.0, "a_e": 1.2, "theta_e": 2.8,
        "a_i": 1.0, "theta_i": 4.0, "Q": 0.0}
LEVELS = np.array([(0.0, 0.0), (0.44, 0.23), (0.19, 0.07)])      # low, high, middle branch


def network(n: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    W = sp.random(n, n, density=min(1.0, 10 / n), random_state=rng, format="csr",
                  data_rvs=lambda k: rng.uniform(0.0, 0.02, k))
    W.setdiag(0.0)
    W.eliminate_zeros()
    return sr.network("wilson_cowan.WC", n, couplings=[sr.Coupling("E", "P", W)],
                      params={**HYST, "P": rng.uniform(-0.1, 0.1, n)})


def guesses(n: int) -> list[dict]:
    out = []
    for pick in (np.ones(n, int), (np.arange(n) < n // 2).astype(int),
                 np.where(np.arange(n) == 0, 2, 0)):
        out.append({"E": LEVELS[pick, 0], "I": LEVELS[pick, 1]})
    return out


def run(n: int, method: str, repeat: int) -> tuple[dict, list]:
    times, fps = [], None
    for _ in range(repeat):
        net = network(n)                          # fresh: nothing cached from the last run
        t = time.perf_counter()
        fps = sr.fixed_points(net, guesses=guesses(n), method=method)
        times.append(time.perf_counter() - t)
    case = {"case": "wc_network_fixed_points", "N": n, "n_states": 2 * n, "method": method,
            "median_s": statistics.median(times), "runs_s": times,
            "n_fixed_points": len(fps), "n_stable": sum(fp.stable for fp in fps),
            "n_eigenvalues": int(fps[0].eigenvalues.size),
            "rightmost": [[float(fp.eigenvalues[0].real), float(fp.eigenvalues[0].imag)]
                          for fp in fps]}
    return case, fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-N", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dense-at", type=int, nargs="*", default=[200],
                        help="sizes at which the dense path is timed too")
    args = parser.parse_args()
    results = {}
    for n in args.N:
        case, fps = run(n, "sparse", args.repeat)
        print(json.dumps(case), flush=True)
        results[(n, "sparse")] = (case, fps)
        if n in args.dense_at:
            case, fps = run(n, "dense", args.repeat)
            print(json.dumps(case), flush=True)
            results[(n, "dense")] = (case, fps)
    for n in args.dense_at:
        if (n, "dense") not in results or (n, "sparse") not in results:
            continue
        (dc, dfps), (sc, sfps) = results[(n, "dense")], results[(n, "sparse")]
        same = len(dfps) == len(sfps)
        dy = max(float(np.abs(a.y - b.y).max()) for a, b in zip(dfps, sfps)) if same else None
        dev = max(float(np.abs(a.eigenvalues - b.eigenvalues).max())
                  for a, b in zip(dfps, sfps)) if same else None
        print(json.dumps({"case": "summary", "N": n, "dense_s": dc["median_s"],
                          "sparse_s": sc["median_s"], "ratio_dense_over_sparse":
                          dc["median_s"] / sc["median_s"], "same_fixed_points": same,
                          "max_state_diff": dy, "max_eigenvalue_diff": dev,
                          "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}), flush=True)


if __name__ == "__main__":
    main()
