#!/usr/bin/env python3
"""BENCHMARKS.md B3: a QIF parameter scan, eta over linspace(-10, 0, M), J = 15, Delta = 1, tau = 1,
forward Euler, dt = 1e-3, T = 20; the observable is the mean of r over the last 10 % of T.

Prints one JSON line per case: symrates' ``scan`` from an empty compile cache (cold) and with a
warm one (the first call in a fresh process, and repeated calls), its peak memory, 1 vs 2
threads, a plain numpy loop over the same M values (Euler, vectorised over M) run in the same
sitting, the ratios against it and against PyRates' published ``grid_search`` times (quoted below;
PyRates is never run here), and whether the numbers agree. ``--dask`` adds the same scan on a
``dask.distributed.LocalCluster`` of two worker processes and checks that its numbers are
identical to the local run.

Every measurement runs in its own subprocess (peak RSS of that process alone), with BLAS pinned to
one thread. Times are medians over ``--repeat`` runs.

    python benchmarks/b3_scans.py                         # M = 10, 100, 300, 1000, 100000
    python benchmarks/b3_scans.py -M 1000 --backend numpy --repeat 3 --dask
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = [10, 100, 300, 1000, 100_000]
#: PyRates 1.2.3 grid_search over eta (BENCHMARKS.md B3), seconds from call to result.
PYRATES_S = {10: 0.83, 100: 1.07, 300: 6.4, 1000: 84.0}
#: B3's targets.
TARGET_WARM_M1000_S = 0.1
TARGET_COLD_M1000_S = 10.0
TARGET_RUN_M100000_S = 1.0
T_END, DT, WINDOW = 20.0, 1e-3, 0.1
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _grid(M: int):
    import numpy as np

    return np.linspace(-10.0, 0.0, M)


def _scan_case(M: int, backend: str, n_threads: int | None, repeat: int) -> dict:
    """Runs inside the child process."""
    import resource
    import time

    t0 = time.perf_counter()
    import symrates as sr  # noqa: F401 - import time is reported
    from symrates.analysis.scans import scan

    t_import = time.perf_counter() - t0

    cpu = []

    def once():
        t, c = time.perf_counter(), time.process_time()
        sc = scan("montbrio.QIF", {"eta": _grid(M)}, t_end=T_END, dt=DT, window=WINDOW,
                  params={"J": 15.0, "Delta": 1.0, "tau": 1.0}, observables={"r": "mean"},
                  backend=backend, n_threads=n_threads, progress=False)
        cpu.append(time.process_time() - c)
        return time.perf_counter() - t, sc

    first, sc = once()
    again = [once()[0] for _ in range(repeat)]
    r = sc["r"]
    return {"import_s": t_import, "first_call_s": first,
            "repeat_call_s": statistics.median(again) if again else None,
            "repeat_calls_s": again, "engine": sc.attrs.get("engine"),
            # CPU time of all threads (a loaded machine inflates wall times, not this)
            "repeat_cpu_s": statistics.median(cpu[1:]) if again else None,
            "load_average": os.getloadavg()[0],
            "chunks": sc.attrs["n_chunks"], "chunk_size": sc.attrs["chunk_size"],
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checksum": [float(r.mean()), float(r[0]), float(r[-1])]}


def _numpy_case(M: int, repeat: int) -> dict:
    """The plain numpy loop: Euler over all M values at once, mean of r over the window."""
    import resource
    import time

    import numpy as np

    def once():
        t = time.perf_counter()
        eta = _grid(M)
        r, v = np.full(M, 0.01), np.full(M, -2.0)
        n_steps = int(round(T_END / DT))
        start = n_steps - int(round(WINDOW * n_steps))
        acc, count = np.zeros(M), 0
        if start == 0:
            acc += r
            count += 1
        for k in range(n_steps):
            dr = 1.0 / np.pi + 2.0 * r * v
            dv = v * v + eta + 15.0 * r - (np.pi * r) ** 2
            r, v = r + DT * dr, v + DT * dv
            if k + 1 >= start:
                acc += r
                count += 1
        mean = acc / count
        return time.perf_counter() - t, mean

    runs = [once() for _ in range(repeat)]
    mean = runs[0][1]
    return {"run_s": statistics.median(t for t, _ in runs),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "checksum": [float(mean.mean()), float(mean[0]), float(mean[-1])]}


def _dask_case(M: int, backend: str) -> dict:
    import time

    import numpy as np
    from dask.distributed import Client, LocalCluster

    from symrates.analysis.scans import scan

    kw = dict(t_end=T_END, dt=DT, window=WINDOW, params={"J": 15.0, "Delta": 1.0, "tau": 1.0},
              observables={"r": ["mean", "max"]}, backend=backend, progress=False)
    local = scan("montbrio.QIF", {"eta": _grid(M)}, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t = time.perf_counter()
        remote = scan("montbrio.QIF", {"eta": _grid(M)}, executor=client, **kw)
        run = time.perf_counter() - t
    same = all(np.array_equal(local[k], remote[k]) for k in [("r", "mean"), ("r", "max")])
    return {"dask_call_s": run, "dask_chunks": remote.attrs["n_chunks"], "identical": same}


def _child(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args],
                         capture_output=True, text=True, env=env or ENV, cwd="/tmp")
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _agree(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-M", type=int, nargs="*", default=None, help="sizes (default: all of B3)")
    ap.add_argument("--backend", default="auto", help="symrates backend (auto, cython, numpy)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dask", action="store_true", help="also run on a 2-process LocalCluster")
    ap.add_argument("--no-numpy-loop", action="store_true", help="skip the numpy baseline")
    ap.add_argument("--case", nargs="+", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.case:                       # child process
        kind, M = args.case[0], int(args.case[1])
        if kind == "scan":
            threads = None if args.case[2] == "none" else int(args.case[2])
            row = _scan_case(M, args.backend, threads, args.repeat)
        elif kind == "numpy":
            row = _numpy_case(M, args.repeat)
        else:
            row = _dask_case(M, args.backend)
        print(json.dumps(row))
        return

    cache = tempfile.mkdtemp(prefix="symrates-b3-cache-")
    env = {**ENV, "SYMRATES_CACHE_DIR": cache}
    back = ["--backend", args.backend]
    for M in args.M or SIZES:
        reps = args.repeat
        numpy_reps = 1 if M >= 100_000 else args.repeat     # the numpy loop takes ~30 s there
        with tempfile.TemporaryDirectory(prefix="symrates-b3-cold-") as cold_dir:
            cold = _child(["--case", "scan", str(M), "none", "--repeat", "0", *back],
                          {**ENV, "SYMRATES_CACHE_DIR": cold_dir})
        _child(["--case", "scan", "10", "none", "--repeat", "0", *back], env)   # fill the cache
        one = _child(["--case", "scan", str(M), "1", "--repeat", str(reps), *back], env)
        two = _child(["--case", "scan", str(M), "2", "--repeat", str(reps), *back], env)
        warm = _child(["--case", "scan", str(M), "none", "--repeat", str(reps), *back], env)
        row = {
            "case": "B3", "M": M, "backend": args.backend, "repeat": reps,
            "cold_call_s": cold["first_call_s"], "warm_first_call_s": warm["first_call_s"],
            "warm_repeat_call_s": warm["repeat_call_s"], "import_s": warm["import_s"],
            "engine": warm["engine"], "chunks": warm["chunks"], "chunk_size": warm["chunk_size"],
            "threads_1_calls_s": one["repeat_calls_s"], "threads_2_calls_s": two["repeat_calls_s"],
            "threads_1_cpu_s": one["repeat_cpu_s"], "threads_2_cpu_s": two["repeat_cpu_s"],
            # the fastest call: the least disturbed by other jobs on a shared machine
            "threads_1_min_s": min(one["repeat_calls_s"]), "threads_2_min_s": min(
                two["repeat_calls_s"]),
            "load_average_1min": two["load_average"],
            "peak_mb": warm["peak_mb"], "threads_1_s": one["repeat_call_s"],
            "threads_2_s": two["repeat_call_s"],
            "two_threads_not_slower": two["repeat_call_s"] <= 1.05 * one["repeat_call_s"],
        }
        if M in PYRATES_S:
            row["pyrates_grid_search_s"] = PYRATES_S[M]
            row["ratio_vs_pyrates_warm_first_call"] = PYRATES_S[M] / warm["first_call_s"]
        if M == 1000:
            row["target_warm_le_0.1s"] = warm["first_call_s"] <= TARGET_WARM_M1000_S
            row["target_cold_le_10s"] = cold["first_call_s"] <= TARGET_COLD_M1000_S
        if M >= 100_000:
            row["target_run_le_1s"] = warm["repeat_call_s"] <= TARGET_RUN_M100000_S
        if not args.no_numpy_loop:
            peer = _child(["--case", "numpy", str(M), "--repeat", str(numpy_reps)])
            row.update({
                "numpy_loop_s": peer["run_s"], "numpy_loop_peak_mb": peer["peak_mb"],
                "ratio_vs_numpy_loop": peer["run_s"] / warm["repeat_call_s"],
                "checksum_rel_diff_vs_numpy_loop": _agree(warm["checksum"], peer["checksum"]),
            })
        if args.dask:
            row.update(_child(["--case", "dask", str(M), *back], env))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
