"""``simulate``: the one entry point for running a model (API.md §4)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ModelDefinitionError, SymratesError
from ..ir.build import build
from ..ir.paths import PathIndex
from .integrate import integrate
from .noise import Noise, resolve_noise
from .problem_numpy import NumpyProblem, ProblemSetup
from .result import SimulationResult
from .solvers import SOLVERS

__all__ = ["simulate", "BACKENDS"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "cython", "numpy")


def _backend(backend: str, model_name: str) -> str:
    if backend not in BACKENDS:
        raise ModelDefinitionError(
            f"Unknown backend {backend!r} for simulating {model_name!r}; choose one of "
            f"{', '.join(BACKENDS)}."
        )
    return backend


def _compilable(backend: str, system: Any, *, method: str, noise: Any,
                inputs: Mapping[str, Any] | None) -> bool:
    """Whether to try the compiled engine: "cython" raises when the run cannot be compiled,
    "auto" logs why it uses numpy."""
    from .compiled import not_compiled

    if backend == "numpy":
        return False
    reasons = not_compiled(system, method=method, noise=noise, inputs=inputs)
    if not reasons:
        return True
    if backend == "cython":
        raise SymratesError(
            f"backend='cython' cannot run {system.name!r}: this version of the compiled "
            f"engine does not compile {'; '.join(reasons)}. Use backend='auto' or 'numpy' "
            "for this run (the numpy reference simulator handles it)."
        )
    logger.info("backend='auto' for %r: using the numpy reference simulator, because the "
                "compiled engine does not compile %s yet", system.name, "; ".join(reasons))
    return False


def _compiled_module(backend: str, system: Any, precision: str = "float64",
                     noise: Noise | None = None) -> Any:
    """The kernel module of ``system`` (compiled if needed), or None when "auto" falls back.

    Multiplicative ``noise`` is part of the module's structure."""
    from ..compile.build import is_cached
    from ..compile.openmp import probe_compiler
    from ..config import Config
    from ..errors import CodegenError, CompilationError
    from .compiled import kernel_module, kernel_source, loaded_kernel_module

    config = Config.default()
    module = loaded_kernel_module(system, config=config, precision=precision, noise=noise)
    if module is not None:
        return module
    if backend == "cython":
        return kernel_module(system, config=config, precision=precision, noise=noise)
    try:
        if not is_cached(kernel_source(system, precision, noise), config):
            compiler = probe_compiler(config.cc)
            if not compiler.works:
                logger.info("backend='auto' for %r: using the numpy reference simulator, because "
                            "the C compiler %r does not work: %s", system.name, compiler.name,
                            compiler.output)
                return None
        return kernel_module(system, config=config, precision=precision, noise=noise)
    except (CodegenError, CompilationError) as exc:
        logger.warning("backend='auto' for %r: using the numpy reference simulator, because the "
                       "compiled kernel could not be built: %s", system.name, exc)
        return None


def simulate(
    model: Any,
    t_end: float,
    *,
    dt: float,
    method: str = "rk4",
    backend: str = "auto",
    params: Mapping[str, Any] | None = None,
    y0: Mapping[str, Any] | Sequence[float] | np.ndarray | None = None,
    inputs: Mapping[str, np.ndarray | Callable[[float], Any]] | None = None,
    outputs: Sequence[str] | str | None = None,
    sampling: float | None = None,
    noise: Mapping[str, Any] | None = None,
    seed: int | None = None,
    n_threads: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    progress: bool = False,
    precision: str = "float64",
) -> SimulationResult:
    """Simulate a model from ``t = 0`` to ``t_end``.

    Parameters
    ----------
    model : template, str, SymbolicSystem or Network
        What to simulate (see :func:`symrates.build`).
    t_end : float
        End time, in the model's time unit; a whole multiple of ``dt``.
    dt : float
        Step size of fixed-step methods; for adaptive methods the time resolution of ``inputs``.
    method : str
        ``"euler"``, ``"heun"``, ``"rk4"`` (fixed step) or ``"rk45"``, ``"dop853"``, ``"radau"``,
        ``"bdf"``, ``"lsoda"`` (adaptive, scipy).
    backend : {"auto", "cython", "numpy"}
        ``"cython"`` runs the compiled engine: the model's structure is compiled once into a
        cached module (first run: a few seconds), and the whole time loop runs in C; it raises
        :class:`~symrates.errors.CompilationError` if that fails, and
        :class:`~symrates.errors.SymratesError` for what this version does not compile yet
        (adaptive methods, inputs given as callables). ``"auto"`` uses the
        compiled engine when a C compiler works and the run can be compiled, else the numpy
        reference (and logs why). ``"numpy"`` is the reference implementation.
    params : mapping, optional
        ``{path: value}`` parameter overrides (an array per network copy for networks).
    y0 : mapping or array, optional
        Initial state, ``{path: value}`` or a full state vector; default: declared values.
    inputs : mapping, optional
        ``{path: array | callable(t)}`` driving a parameter or an input's constant part. Arrays have
        one row per step (row ``k`` holds during step ``k``): shape ``(n_steps,)`` or
        ``(n_steps, n_copies)``.
    outputs : sequence of str, optional
        Paths to record: states, algebraic variables, inputs or parameters. Default: all states.
    sampling : float, optional
        Recording interval, a whole multiple of ``dt`` (default ``dt``). Samples are taken at
        ``t = 0, sampling, 2*sampling, ...`` up to ``t_end``.
    noise : mapping, optional
        ``{state_path: sigma}``: adds ``sigma * dW`` to that state's equation, one independent
        Wiener process per state and unit (diagonal noise). ``sigma`` is a number >= 0 or an
        array with one per unit (additive noise), or an expression of the unit's states and
        parameters and ``t`` (multiplicative noise): text such as ``"0.1 * r"`` or
        ``"s * sqrt(r**2 + 1e-6)"``, parsed without ``eval``, or a sympy expression. Names
        resolve like equation names in the state's unit: the variables of the state's own
        operator by name, other variables of the node by an unambiguous suffix of their path
        joined with ``__`` (``"RPO_i__v"``); per-unit parameter values, ``params=`` and
        ``inputs=`` apply; algebraic variables stand for their definitions (not those that
        read incoming edges). With ``g(t, y)`` the amplitude and ``dW`` the Wiener increment
        of step ``k``, ``"euler"`` is Euler–Maruyama,
        ``y_{k+1} = y + dt f(t, y) + g(t, y) dW``, which converges to the **Itô** solution;
        ``"heun"`` is stochastic Heun, predictor ``p = y + dt f(t, y) + g(t, y) dW`` and
        ``y_{k+1} = y + dt/2 (f(t, y) + f(t + dt, p)) + 1/2 (g(t, y) + g(t + dt, p)) dW``
        with the same ``dW``, which converges to the **Stratonovich** solution (for
        additive noise the two agree, and the scheme reduces to ``+ sigma dW``). Other
        methods raise. In the compiled engine the expressions are compiled into the kernel
        (a new expression compiles a new module, new parameter values do not).
    seed : int, optional
        Seed of the noise. ``dW[i] = sqrt(dt) * normals(seed, k, i, n_states)`` of
        :mod:`symrates.runtime.rng`, the same numbers in both backends and for any
        ``n_threads``.
    n_threads : int, optional
        Threads of the compiled engine (default: ``$SYMRATES_NUM_THREADS``, else all usable
        cores, limited by ``OMP_NUM_THREADS``). Systems with less work per
        stage than ``symrates.runtime.compiled.PARALLEL_MIN_WORK`` (3 per state, 1 per sparse
        coupling non-zero, 1/6 per dense entry) run serially; results are bit-identical for
        any thread count. Ignored by the numpy reference.
    rtol, atol : float
        Tolerances of adaptive methods.
    progress : bool
        Show a tqdm progress bar (silently none if tqdm is missing). A compiled run then
        runs in 100 pieces that continue each other, with the same bits as one piece.
    precision : {"float64", "float32"}
        Storage type of the compiled engine's states, parameters, weights and recordings.
        ``"float32"`` halves the memory and memory traffic of large networks; every expression
        is still evaluated in double, and results are rounded to float32 after each step (they
        follow the float64 run to about 1e-6 relative while the dynamics are not chaotic). It
        needs the compiled engine (``backend="cython"``, or ``"auto"`` with a working compiler).

    Returns
    -------
    SimulationResult

    Raises
    ------
    IntegrationError
        If the state stops being finite (the message names the time and variables).

    Examples
    --------
    >>> import symrates as sr
    >>> res = sr.simulate("jansen_rit.JR6", 1.0, dt=1e-4, outputs=["y1", "y2"])
    >>> res["y1"].shape
    (10001,)

    Multiplicative noise, ``dv = f dt + 0.05 (1 + v^2) dW`` (Stratonovich, as ``"heun"``):

    >>> res = sr.simulate("fitzhugh_nagumo.FHN", 10.0, dt=0.01, method="heun", backend="numpy",
    ...                   noise={"v": "0.05 * (1 + v**2)"}, seed=1)
    >>> res["v"].shape
    (1001,)
    """
    system = build(model)
    backend = _backend(backend, system.name)
    if precision not in ("float64", "float32"):
        raise ModelDefinitionError(
            f"precision must be 'float64' or 'float32' for simulating {system.name!r}, got "
            f"{precision!r}."
        )
    single = precision == "float32"
    if single and backend == "numpy":
        raise ModelDefinitionError(
            f"precision='float32' runs in the compiled engine; the numpy reference simulator "
            f"of {system.name!r} is float64 only. Use backend='cython' or 'auto'."
        )
    if method not in SOLVERS:
        raise ModelDefinitionError(
            f"Unknown method {method!r} for simulating {system.name!r}; choose one of "
            f"{', '.join(SOLVERS)}."
        )
    if n_threads is not None:
        from ..compile.openmp import effective_threads

        effective_threads(n_threads)
    try:
        n_steps = int(round(float(t_end) / float(dt)))
    except (TypeError, ValueError, ZeroDivisionError):
        n_steps = None  # integrate() reports the problem with the right message
    # Resolve everything the user named before anything is compiled: errors come first.
    module = problem = None
    # an empty mapping is no noise; anything else that is not a mapping gets the message of
    # resolve_noise (numpy arrays have no truth value)
    given = noise is not None and not (isinstance(noise, Mapping) and not noise)
    resolved = resolve_noise(system, noise) if given else None
    if single:
        from .compiled import not_compiled

        reasons = not_compiled(system, method=method, noise=noise, inputs=inputs)
        if reasons:
            raise ModelDefinitionError(
                f"precision='float32' runs in the compiled engine, which does not compile "
                f"{'; '.join(reasons)} (for {system.name!r}). Use precision='float64' for "
                "this run (the numpy reference simulator handles it)."
            )
    if _compilable("cython" if single else backend, system, method=method, noise=noise,
                   inputs=inputs):
        setup = ProblemSetup(system, params=params, inputs=inputs, n_steps=n_steps)
        start = setup.state_vector(y0)
    else:
        problem = NumpyProblem(system, params=params, inputs=inputs, n_steps=n_steps)
        start = problem.state_vector(y0)

    if outputs is None:
        paths = list(system.states)
    else:
        paths = [outputs] if isinstance(outputs, str) else list(outputs)
        paths = list(dict.fromkeys(system.resolve(p) for p in paths))
    state_paths = [p for p in paths if p in system.layout]
    other = [p for p in paths if p not in system.layout]
    if other:
        record = None   # algebraic outputs need the whole state at each sample
    else:
        record = np.concatenate([
            np.arange(system.layout[p][2], system.layout[p][2] + system.layout[p][3])
            for p in state_paths
        ]).astype(np.int64) if state_paths else np.zeros(0, dtype=np.int64)

    observers = {}
    if other:   # made before the run: a path that cannot be observed fails first
        observer = problem or NumpyProblem(system, params=params, inputs=inputs, n_steps=n_steps)
        observers = {p: observer.observe(p) for p in paths}
    if problem is None:
        from .integrate import _sample_stride, step_count

        _sample_stride(sampling, dt, step_count(t_end, dt) * float(dt))  # check before compiling
        module = _compiled_module("cython" if single else backend, system, precision,
                                  resolved)
        if module is None:   # "auto" fell back
            problem = NumpyProblem(system, params=params, inputs=inputs, n_steps=n_steps)
    started = time.perf_counter()
    if module is not None:
        from .compiled import CompiledProblem, integrate_compiled

        compiled = CompiledProblem(setup, module, n_steps=n_steps)
        started = time.perf_counter()
        t, samples, y_final = integrate_compiled(
            compiled, start, t_end=t_end, dt=dt, method=method, sampling=sampling, record=record,
            noise=resolved, seed=seed, n_threads=n_threads, progress=progress,
        )
    else:
        sigma = resolved.diffusion(problem) if resolved is not None else None
        t, samples, y_final = integrate(
            problem, start, t_end=t_end, dt=dt, method=method, sampling=sampling, record=record,
            noise=sigma, rng_seed=seed, rtol=rtol, atol=atol, progress=progress,
        )
    integrate_s = time.perf_counter() - started

    data: dict[str, np.ndarray] = {}
    if record is not None:
        col = 0
        for p in state_paths:
            length = system.layout[p][3]
            block = samples[:, col:col + length]
            # views of the one samples array: no second copy of the recording in memory
            data[p] = block[:, 0] if length == 1 and _single(system, p) else block
            col += length
    else:
        steps = np.minimum(np.rint(t / dt).astype(np.int64), max(n_steps - 1, 0))
        for p in paths:
            fn = observers[p]
            values = np.array([fn(ti, yi, int(k)) for ti, yi, k in zip(t, samples, steps)])
            data[p] = values[:, 0] if values.shape[1] == 1 and _single(system, p) else values
    final = {}
    for p, (_g, _var, off, length) in system.layout.items():
        final[p] = float(y_final[off]) if length == 1 and _single(system, p) else (
            y_final[off:off + length].copy())
    index = PathIndex(list(data), model=system.name)
    result = SimulationResult(t, {p: data[p] for p in paths}, final,
                              lambda p: index.resolve(p, what="recorded variable"))
    result.timings["integrate_s"] = integrate_s
    return result


def _single(system, path: str) -> bool:
    """Whether ``path`` holds one number (not one per copy); cached per system."""
    cache = system._cache.setdefault("scalar_paths", {})
    if path not in cache:
        group, _local, _i = system.locate(path)
        cache[path] = group.scalar_paths
    return cache[path]
