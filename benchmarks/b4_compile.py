#!/usr/bin/env python3
"""BENCHMARKS.md B4: compile and start-up of the compiled engine.

For each model, prints one JSON line with medians over ``--repeat`` runs of

- ``cold``: a fresh process on an empty cache dir: ``import symrates``, build the system,
  generate the code, compile it (Cython + C compiler), load it and take the first step;
- ``warm``: a fresh process on the cache the cold run filled: the same steps, the kernel loaded
  from the cache (``compiled`` must be 0).

Each phase is timed inside the child process (``import_s``, ``build_s``, ``codegen_s``,
``compile_s`` (load or compile), ``first_step_s``, ``total_s`` = all of them); ``process_s`` is
the wall time of the whole child seen from outside, interpreter start-up included.
Target (B4): warm ``total_s`` <= 0.5 s.

    python benchmarks/b4_compile.py                         # jansen_rit.JRC and montbrio.QIF
    python benchmarks/b4_compile.py --models wilson_cowan.WC_EI --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: B4's models: the JRC circuit, the QIF mean field, and a Wilson-Cowan network of three E-I
#: populations coupled E -> P all-to-all ("wc3", built in the child).
MODELS = ("jansen_rit.JRC", "montbrio.QIF", "wc3")

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import symrates as sr
t1 = time.perf_counter()
if sys.argv[1] == "wc3":
    import numpy as np
    W = 0.5 * (np.ones((3, 3)) - np.eye(3))
    system = sr.build(sr.network("wilson_cowan.WC", 3, couplings=[sr.Coupling("E", "P", W)]))
else:
    system = sr.build(sys.argv[1])
t2 = time.perf_counter()
from symrates.runtime.compiled import kernel_module, kernel_source
kernel_source(system)
t3 = time.perf_counter()
kernel_module(system)
t4 = time.perf_counter()
sr.simulate(system, 1e-4, dt=1e-4, method="euler", backend="cython")
t5 = time.perf_counter()
from symrates.compile.build import toolchain
from symrates.compile.cache import STATS
from symrates.config import Config
tc = toolchain(Config.default())
print(json.dumps({"import_s": t1 - t0, "build_s": t2 - t1, "codegen_s": t3 - t2,
                  "compile_s": t4 - t3, "first_step_s": t5 - t4, "total_s": t5 - t0,
                  "compiled": STATS.compiled, "cc": tc["cc_version"], "cflags": tc["cflags"]}))
"""


def _child(model: str, cache_dir: str) -> dict:
    env = {**os.environ, "SYMRATES_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, model], capture_output=True, text=True,
                         env=env, cwd=cache_dir)
    wall = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"{model}: the child process failed:\n{out.stderr[-3000:]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["process_s"] = wall
    return report


def _medians(runs: list[dict]) -> dict:
    keys = [k for k, v in runs[0].items() if k.endswith("_s")]
    out = {k: round(statistics.median(r[k] for r in runs), 4) for k in keys}
    out["compiled"] = [r["compiled"] for r in runs]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = ap.parse_args(argv)
    for model in args.models:
        cold, warm = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="symrates-b4-") as cache_dir:
                cold.append(_child(model, cache_dir))
                warm.append(_child(model, cache_dir))
        print(json.dumps({
            "benchmark": "B4", "model": model, "repeat": args.repeat,
            "cold": _medians(cold), "warm": _medians(warm),
            "target_warm_total_s": 0.5, "cc": cold[0]["cc"], "cflags": cold[0]["cflags"],
        }), flush=True)


if __name__ == "__main__":
    main()
