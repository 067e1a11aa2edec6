"""The ``symrates`` command line (API.md §8).

::

    symrates demo                      # simulate and analyse the bundled Jansen-Rit model, plot
    symrates info MODEL                # equations, states, parameters
    symrates simulate MODEL --t-end T --dt DT [--method M] [--plot FILE] [--out FILE]
    symrates continue MODEL --parameter P --bounds LOW HIGH [--plot FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import sympy

from .errors import SymratesError

__all__ = ["main"]


def _print_equations(system, out) -> None:
    """Equations with every symbol shown by its shortest unambiguous path."""
    symbols = [*system.state_symbols, *system._flat["params"].values()]
    names = {s: sympy.Symbol(system.index.short(s.name)) for s in symbols}
    for eq in system.equations:
        lhs = f"d/dt {names[eq.lhs.args[0]]}"
        print(f"  {lhs} = {sympy.sstr(eq.rhs.xreplace(names))}", file=out)


def _cmd_info(args, out) -> int:
    from .ir.build import build

    system = build(args.model)
    print(f"{system.name}: {system.n_states} states, {len(system.parameters)} parameters", file=out)
    if system.description:
        print(f"  {system.description.strip()}", file=out)
    print("equations:", file=out)
    _print_equations(system, out)
    print("states (initial value):", file=out)
    for path, y in zip(system.states, system.initial_state):
        print(f"  {path} = {y:g}", file=out)
    print("parameters:", file=out)
    for path, v in system.parameters.items():
        print(f"  {path} = {v:g}", file=out)
    return 0


def _plot(res, paths, file: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    res.plot(*paths, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(file, dpi=120)
    plt.close(fig)


def _cmd_simulate(args, out) -> int:
    from .runtime.simulate import simulate

    t0 = time.perf_counter()
    res = simulate(args.model, args.t_end, dt=args.dt, method=args.method,
                   outputs=args.outputs or None, sampling=args.sampling, backend=args.backend)
    print(f"simulated {args.model} to t = {args.t_end} with {args.method}, dt = {args.dt} "
          f"in {time.perf_counter() - t0:.2f} s", file=out)
    for path, value in res.final_state.items():
        print(f"  {path}(t_end) = {np.asarray(value).ravel()[0]:.6g}", file=out)
    if args.out:
        path = Path(args.out)
        if path.suffix == ".npz":
            np.savez(path, t=res.t, **{p.replace("/", "__"): res[p] for p in res.paths})
        else:
            res.to_dataframe().to_csv(path)
        print(f"wrote {path}", file=out)
    if args.plot:
        _plot(res, res.paths[:10], Path(args.plot), args.model)
        print(f"wrote {args.plot}", file=out)
    return 0


def _cmd_demo(args, out) -> int:
    import symrates as sr

    model = "jansen_rit.JR6"
    system = sr.build(model)
    print(f"Jansen-Rit neural mass model ({model}), {system.n_states} states", file=out)
    print("equations:", file=out)
    _print_equations(system, out)

    fps = sr.fixed_points(system)
    print(f"fixed points at p = {system.parameters[system.resolve('p')]:g}:", file=out)
    for fp in fps:
        lead = fp.eigenvalues[0]
        print(f"  y1 - y2 = {fp.state[system.resolve('y1')] - fp.state[system.resolve('y2')]:8.4f}"
              f" mV  {fp.kind:15s} leading eigenvalue {lead.real:+.4g}{lead.imag:+.4g}j",
              file=out)

    t0 = time.perf_counter()
    res = sr.simulate(system, args.t_end, dt=1e-4, method="rk4", outputs=["y1", "y2"])
    v = res["y1"] - res["y2"]
    late = res.t >= args.t_end / 2
    spec = np.abs(np.fft.rfft(v[late] - v[late].mean()))
    freqs = np.fft.rfftfreq(late.sum(), d=res.t[1] - res.t[0])
    peak = freqs[np.argmax(spec)]
    print(f"simulated {args.t_end} s (rk4, dt = 1e-4 s) in {time.perf_counter() - t0:.2f} s: "
          f"y1 - y2 oscillates between {v[late].min():.2f} and {v[late].max():.2f} mV "
          f"at {peak:.1f} Hz", file=out)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(res.t, v, lw=1)
    ax.set_xlabel("t (s)")
    ax.set_ylabel("y1 - y2 (mV)")
    ax.set_title(f"Jansen-Rit model, p = 220 /s: alpha rhythm at {peak:.1f} Hz")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    plt.close(fig)
    print(f"wrote {args.plot}", file=out)
    return 0


def _parse_params(items: Sequence[str] | None) -> dict[str, float]:
    out = {}
    for item in items or ():
        path, sep, value = item.partition("=")
        try:
            out[path.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not path.strip():
            raise SymratesError(
                f"--params takes PATH=VALUE pairs such as 'J=12.5'; got {item!r}."
            )
    return out


def _cmd_continue(args, out) -> int:
    from .analysis.continuation import continuation

    t0 = time.perf_counter()
    branch = continuation(args.model, args.parameter, bounds=tuple(args.bounds),
                          params=_parse_params(args.params), max_steps=args.max_steps)
    system = branch.system
    name = system.index.short(branch.parameters[0])
    print(f"continued the equilibria of {system.name} in {name} over "
          f"[{args.bounds[0]:g}, {args.bounds[1]:g}]: {len(branch)} points in "
          f"{time.perf_counter() - t0:.2f} s", file=out)
    stable = np.array(branch.stable)
    for sp in branch.special_points:      # a bifurcation point bounds the runs next to it
        stable[sp.index] = any(stable[j] for j in (sp.index - 1, sp.index + 1)
                               if 0 <= j < len(branch))
    if stable.any():
        print(f"  stable for {name} in " + ", ".join(
            f"[{lo:.6g}, {hi:.6g}]" for lo, hi in _runs(branch.parameter, stable)), file=out)
    print(f"special points ({len(branch.special_points)}):", file=out)
    for sp in branch.special_points:
        print(f"  {sp.description}", file=out)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        branch.plot(y=args.y, ax=ax)
        ax.set_title(f"{system.name}: equilibria in {name} (solid stable, dashed unstable)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        plt.close(fig)
        print(f"wrote {args.plot}", file=out)
    return 0


def _runs(x, mask):
    """``[(min, max)]`` of ``x`` over consecutive runs where ``mask`` holds."""
    out, start = [], None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            seg = x[start:i]
            out.append((float(seg.min()), float(seg.max())))
            start = None
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symrates",
        description="Rate-based neural population models: simulate, analyse and inspect models.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="simulate and analyse the bundled Jansen-Rit model")
    demo.add_argument("--plot", default="symrates_demo.png", help="PNG file to write")
    demo.add_argument("--t-end", type=float, default=2.0, help="simulated time in s")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="print a model's equations, states and parameters")
    info.add_argument("model", help="library reference (see list) or file.yaml:Template")
    info.set_defaults(func=_cmd_info)

    lst = sub.add_parser("list", help="list the library's models")
    lst.set_defaults(func=lambda args, out: print(
        "\n".join(__import__("symrates").list_models()), file=out) or 0)

    sim = sub.add_parser("simulate", help="simulate a model")
    sim.add_argument("model")
    sim.add_argument("--t-end", type=float, required=True)
    sim.add_argument("--dt", type=float, required=True)
    sim.add_argument("--method", default="rk4")
    sim.add_argument("--backend", default="auto")
    sim.add_argument("--sampling", type=float, default=None)
    sim.add_argument("--outputs", nargs="*", default=None, help="paths to record")
    sim.add_argument("--plot", default=None, help="PNG file to write")
    sim.add_argument("--out", default=None, help="CSV (or .npz) file to write")
    sim.set_defaults(func=_cmd_simulate)

    cont = sub.add_parser("continue", help="continue equilibria in one parameter, with their "
                          "folds and Hopf points")
    cont.add_argument("model")
    cont.add_argument("--parameter", required=True, help="path of the parameter to vary")
    cont.add_argument("--bounds", type=float, nargs=2, required=True, metavar=("LOW", "HIGH"),
                      help="range of the parameter")
    cont.add_argument("--params", nargs="*", default=None, metavar="PATH=VALUE",
                      help="other parameter values")
    cont.add_argument("--max-steps", type=int, default=None, help="steps in each direction")
    cont.add_argument("--plot", default=None, help="PNG file to write")
    cont.add_argument("--y", default=None, help="path plotted against the parameter")
    cont.set_defaults(func=_cmd_continue)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 on a model error)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args, sys.stdout) or 0)
    except SymratesError as exc:
        print(f"symrates {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
