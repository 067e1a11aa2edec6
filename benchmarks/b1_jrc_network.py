#!/usr/bin/env python3
"""BENCHMARKS.md B1: N randomly coupled Jansen–Rit circuits, forward Euler, dt = 1e-4 s, T = 1 s.

Prints one JSON line per case: symrates' build and run times and peak memory, the hand-vectorised
numpy peer (``../shared/peers/numpy_jrc_reference.py``) run in the same sitting, optionally PyRates
1.2.3 through a separate interpreter (``--pyrates-python ~/pyrates-venv/bin/python``; PyRates is
never a dependency), the ratios against them, and whether the checksums agree.

Two run times: ``run_s`` is the whole ``sr.simulate`` call (problem setup, time loop, result),
``loop_s`` the time loop alone (``SimulationResult.timings["integrate_s"]``), which is the span
PyRates' own ``run_s`` covers (its ``ComputeGraph.run``). Ratios are given for both.

Every measurement runs in its own subprocess (peak RSS of that process alone), with BLAS pinned to
one thread. Times are medians over ``--repeat`` runs.

    python benchmarks/b1_jrc_network.py                       # all sizes, symrates' default backend
    python benchmarks/b1_jrc_network.py -n 100 1000 --backend numpy --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent.parent / "shared" / "peers"
CASES = [(1, 0.1), (10, 0.1), (100, 0.1), (100, 1.0), (500, 0.1), (1000, 0.1), (2000, 0.1)]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": os.environ.get(
    "OMP_NUM_THREADS", ""), "MKL_NUM_THREADS": "1"}
ENV = {k: v for k, v in ENV.items() if v != ""}


def _one_case(n: int, p: float, backend: str, n_threads: int | None,
              precision: str = "float64") -> dict:
    """Runs inside the child process: build, run, checksum of symrates for one case."""
    import resource
    import time

    import numpy as np

    t0 = time.perf_counter()
    import symrates as sr

    t_import = time.perf_counter() - t0
    steps, dt = 10_000, 1e-4
    rng = np.random.default_rng(42)
    C = rng.uniform(size=(n, n))
    C[C > p] = 0.0
    np.fill_diagonal(C, 0.0)
    s = C.sum(axis=1)
    C[s > 0] /= s[s > 0, None]
    u = 220 + 22 * rng.standard_normal((steps, n))

    options = dict(method="euler", backend=backend, outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"],
                   n_threads=n_threads)
    if precision != "float64":
        options["precision"] = precision
    # build = network + symbolic system + lowering + code generation + (cached) compile + load,
    # i.e. everything before the integration starts, as PyRates' build_s
    t0 = time.perf_counter()
    net = sr.network("jansen_rit.JRC", n,
                     couplings=[sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", C)])
    system = sr.build(net)
    sr.simulate(system, dt, dt=dt, inputs={"u": u[:1]}, **options)
    t_build = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = sr.simulate(system, 1.0, dt=dt, inputs={"u": u}, sampling=1e-3,
                      y0=np.zeros(system.n_states), **options)
    t_run = time.perf_counter() - t0
    t_loop = res.timings["integrate_s"]
    v = (res["pc/RPO_e_pc/v"] + res["pc/RPO_i/v"])[:-1]     # the peers record before each step
    v = v.reshape(len(v), -1)                                # (samples, n), also for n = 1
    w = v[int(round(0.9 * len(v))):]
    return {
        "import_s": t_import, "build_s": t_build, "run_s": t_run, "loop_s": t_loop,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "checksum": {"mean": float(w.mean()), "std": float(w.std()), "min": float(w.min()),
                     "max": float(w.max()), "node0_last": float(v[-1, 0]),
                     "nodeN_last": float(v[-1, -1])},
    }


def _child(args: list[str], python: str = sys.executable) -> dict:
    out = subprocess.run([python, *args], capture_output=True, text=True, env=ENV, cwd="/tmp")
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _agree(a: dict, b: dict) -> float:
    """Largest relative difference between two checksums."""
    b = b.get("checksum", b)
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-300) for k in
               ("mean", "std", "min", "max", "node0_last", "nodeN_last"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, nargs="*", default=None, help="sizes (default: all of B1)")
    ap.add_argument("-p", type=float, default=None, help="density (default: B1's per size)")
    ap.add_argument("--backend", default="auto", help="symrates backend (auto, cython, numpy)")
    ap.add_argument("--n-threads", type=int, default=None)
    ap.add_argument("--precision", default="float64", choices=["float64", "float32"],
                    help="storage precision of the compiled engine")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pyrates-python", default=None, help="interpreter of a PyRates 1.2.3 venv")
    ap.add_argument("--case", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.case:                       # child process
        n, p = int(args.case[0]), float(args.case[1])
        print(json.dumps(_one_case(n, p, args.backend, args.n_threads, args.precision)))
        return

    cases = CASES if args.n is None else [(n, args.p or 0.1) for n in args.n]
    me = str(Path(__file__).resolve())
    for n, p in cases:
        extra = ["--backend", args.backend, "--precision", args.precision] + (
            ["--n-threads", str(args.n_threads)] if args.n_threads else [])
        ours = [_child([me, "--case", str(n), str(p), *extra]) for _ in range(args.repeat)]
        ref_args = [str(PEERS / "numpy_jrc_reference.py"), "-n", str(n), "-p", str(p)]
        peer = [_child(ref_args) for _ in range(args.repeat)]
        row = {
            "case": "B1", "n": n, "p": p, "backend": args.backend, "n_threads": args.n_threads,
            "precision": args.precision,
            "repeat": args.repeat,
            "build_s": _median(ours, "build_s"), "run_s": _median(ours, "run_s"),
            "loop_s": _median(ours, "loop_s"),
            "peak_mb": max(r["peak_mb"] for r in ours),
            "ns_per_node_step": _median(ours, "run_s") / (n * 10_000) * 1e9,
            "numpy_peer_run_s": _median(peer, "run_s"),
            "run_ratio_vs_numpy_peer": _median(peer, "run_s") / _median(ours, "run_s"),
            "checksum_rel_diff_vs_numpy_peer": _agree(ours[0]["checksum"], peer[0]["checksum"]),
        }
        if args.pyrates_python:
            py = [_child([str(PEERS / "pyrates_jrc.py"), "-n", str(n), "-p", str(p)],
                         python=args.pyrates_python) for _ in range(args.repeat)]
            row.update({
                "pyrates_build_s": _median(py, "build_s"), "pyrates_run_s": _median(py, "run_s"),
                "build_ratio_vs_pyrates": _median(py, "build_s") / row["build_s"],
                "run_ratio_vs_pyrates": _median(py, "run_s") / row["run_s"],
                # PyRates' run_s times its integration loop alone (ComputeGraph.run); loop_s
                # is the same span of ours, run_s our whole sr.simulate call
                "loop_ratio_vs_pyrates": _median(py, "run_s") / row["loop_s"],
            })
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
