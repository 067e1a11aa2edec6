"""Compile a generated kernel module, or load it from the cache.

:func:`load_kernel` is the one entry point: it hashes the source with the
:func:`toolchain` (:func:`~symrates.compile.cache.cache_key`), returns a module already loaded in
this process, else loads ``<cache_dir>/_sr_kernel_<hash16><EXT_SUFFIX>``, else builds it:

1. under a file lock on ``<cache_dir>/_sr_kernel_<hash16>.lock`` (so that two processes
   building the same module compile it once; the second one waits and loads it);
2. in a fresh temporary directory inside the cache dir: ``python -m cython`` turns the ``.pyx``
   into C, the C compiler turns that into the extension module, with exactly the flags of the
   key (nothing comes from ``sysconfig``'s CFLAGS);
3. ``os.replace`` moves the ``.pyx`` and then the module into the cache dir, so a module file
   that exists is always complete;
4. ``importlib`` loads it from that exact path (``sys.path`` and the working directory are
   never touched).

A failed build raises :class:`~symrates.errors.CompilationError` with the tool's output; the
``.pyx`` is kept in the cache dir for inspection.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from symrates._version import __version__
from symrates.compile.cache import (
    BUILD_PREFIX,
    STATS,
    cache_key,
    file_lock,
    kernel_dir,
    module_name,
)
from symrates.compile.openmp import _compiler_command, probe_compiler, resolve_openmp
from symrates.config import Config
from symrates.errors import CompilationError

__all__ = ["BASE_CFLAGS", "toolchain", "kernel_path", "is_cached", "load_kernel", "loaded_module",
           "vector_flags"]

logger = logging.getLogger(__name__)

#: Compiler flags of every kernel, before ``Config.cflags`` (default ``-O3``). They do not
#: change results: no ``-ffast-math``, no FMA contraction (``-ffp-contract=off``, so results
#: match the numpy reference also with ``-march=native``); ``-fno-math-errno`` only lets the
#: compiler treat libm calls as pure (errno is never read), and ``-fno-trapping-math`` lets it
#: compute both sides of a conditional expression, as vector code does (floating-point
#: exception flags are never read). ``-fno-tree-slp-vectorize`` turns off the vectorising of
#: straight-line code (loops are still vectorised): in the run of one copy (the template's
#: SINGLE) it packed the state, written element by element, into vector loads that then wait
#: for the stores (B1 at N = 1: 0.40 ms with it, 0.30 ms without; N = 100 and 1000 unchanged).
BASE_CFLAGS = ("-fPIC", "-fwrapv", "-fno-strict-aliasing", "-DNDEBUG", "-ffp-contract=off",
               "-fno-math-errno", "-fno-trapping-math", "-fno-tree-slp-vectorize")
#: Seconds allowed for one Cython or compiler call.
TIMEOUT = 900.0
#: Lines of tool output quoted in an error message (all of it is in ``.output``).
_QUOTED_LINES = 40

_loaded: dict[str, ModuleType] = {}
_failed: dict[str, CompilationError] = {}
_lock = threading.Lock()


def loaded_module(name: str) -> ModuleType | None:
    """The kernel module ``name`` if this process loaded it (and no ``clear_cache`` since)."""
    return _loaded.get(name)


def forget_loaded() -> None:
    """Forget the modules loaded (and builds failed) in this process; used by ``clear_cache``."""
    with _lock:
        _loaded.clear()
        _failed.clear()


@functools.lru_cache(maxsize=16)
def _compiler_version(command: tuple[str, ...]) -> str:
    """First line of ``<cc> --version`` (``""`` if the compiler is missing or fails)."""
    try:
        proc = subprocess.run([*command, "--version"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if proc.returncode != 0:
        return ""
    return next((line.strip() for line in proc.stdout.splitlines() if line.strip()), "")


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    import Cython
    import numpy

    return {"symrates": __version__, "cython": Cython.__version__, "numpy": numpy.__version__}


def vector_flags(cc: str | None = None) -> tuple[str, ...]:
    """Compiler flags for the widest vectors this processor has and the C compiler ``cc``
    (default: as :func:`~symrates.compile.openmp.probe_compiler`) accepts (x86-64 only):
    AVX-512 (F, CD, VL, BW, DQ, as in x86-64-v4), else AVX2, else AVX, else none.

    :func:`toolchain` adds them to every kernel unless ``Config.cflags`` choose an instruction
    set. The compiler is asked (by its probe, kept on disk) rather than assumed to know the
    flags, so an older compiler gets the widest set it knows instead of failing every build.
    The generated loops are written so that they never change a result. The sparse products
    are SSE2 code of their own, because the gathers that wider vectors would bring are slower
    than scalar loads on AMD processors. On this machine (AMD EPYC, AVX-512) B1 at N = 100
    took 17.3 ms with AVX2 and 14.6 ms with AVX-512, at N = 1000 (2 threads) 0.220 s and
    0.204 s.
    """
    info = probe_compiler(cc)
    return info.vector_flags if info.works else ()


def _isa_flags(cflags: tuple[str, ...], cc: str | None = None) -> tuple[str, ...]:
    """:func:`vector_flags`, unless ``cflags`` already choose the instruction set (``-march``,
    ``-mavx*``, ``-mno-avx*``).

    Wider vectors change no result: every operation stays one IEEE double operation (no FMA
    contraction, see :data:`BASE_CFLAGS`), only more of them run side by side, and the scalar
    remainder of a loop computes exactly what the vector lanes compute.
    """
    if any(f.startswith(("-march", "-mavx", "-mno-avx")) for f in cflags):
        return ()
    return vector_flags(cc)


def _link_flags() -> tuple[str, ...]:
    if sys.platform == "darwin":  # pragma: no cover - macOS
        return ("-bundle", "-undefined", "dynamic_lookup")
    return ("-shared",)


def toolchain(config: Config) -> dict[str, Any]:
    """Everything besides the source that decides a compiled module (the rest of the key).

    Parameters
    ----------
    config : Config
        Supplies ``cc``, ``cflags`` and ``ldflags``.

    Returns
    -------
    dict
        ``cc`` (the command), ``cc_version`` (first line of ``--version``), ``cython_args``,
        ``cflags`` (all compile flags, include directories, the OpenMP flags of
        :func:`~symrates.compile.openmp.resolve_openmp` and the processor's
        :func:`vector_flags` included), ``ldflags`` (all link
        flags), ``versions`` (symrates, Cython, numpy), ``machine``, ``abi`` (the extension
        suffix, e.g. ``.cpython-311-x86_64-linux-gnu.so``) and ``python``.

    Examples
    --------
    >>> from symrates.config import Config
    >>> tc = toolchain(Config(cache_dir="/tmp/symrates-doc"))
    >>> tc["cflags"][-3:-1], tc["ldflags"][:1]
    (['-O3', '-I'], ['-shared'])
    """
    from symrates._ext import get_include

    command = _compiler_command(config.cc)
    include = sysconfig.get_paths()["include"]
    omp_cflags: tuple[str, ...] = ()
    omp_ldflags: tuple[str, ...] = ()
    if shutil.which(command[0]) is not None and resolve_openmp(config.openmp, cc=config.cc):
        info = probe_compiler(config.cc)
        omp_cflags, omp_ldflags = info.openmp_cflags, info.openmp_ldflags
    return {
        "cc": list(command),
        "cc_version": _compiler_version(command),
        "cython_args": ["-3", "-I", get_include()],
        "cflags": [*BASE_CFLAGS, *omp_cflags, *_isa_flags(config.cflags, config.cc),
                   *config.cflags,
                   "-I", include],
        "ldflags": [*_link_flags(), *config.ldflags, *omp_ldflags],
        "versions": _versions(),
        "machine": platform.machine(),
        "abi": sysconfig.get_config_var("EXT_SUFFIX") or ".so",
        "python": sys.implementation.cache_tag,
    }


@functools.lru_cache(maxsize=64)
def _toolchain_cached(config: Config, command: tuple[str, ...]) -> dict[str, Any]:
    return toolchain(config)


def _locate(source: str, config: Config) -> tuple[dict[str, Any], str, Path]:
    """The toolchain, the module name and the module's path in the cache.

    They are fixed for a config and a compiler command (``$CC`` is read each time), so they are
    computed once: a repeated ``simulate`` call then costs the kernel's run time plus look-ups,
    not a compiler probe and a hash of the source.
    """
    return _locate_cached(source, config, tuple(_compiler_command(config.cc)))


@functools.lru_cache(maxsize=256)
def _locate_cached(source: str, config: Config, command: tuple[str, ...]):
    tc = _toolchain_cached(config, command)
    name = module_name(cache_key(source, tc))
    return tc, name, config.cache_dir / (name + tc["abi"])


def kernel_path(source: str, config: Config | None = None) -> Path:
    """Where the compiled module of ``source`` is (or will be) cached for ``config``.

    Examples
    --------
    >>> from symrates.config import Config
    >>> kernel_path("# source", Config(cache_dir="/tmp/c")).name.startswith("_sr_kernel_")
    True
    """
    return _locate(source, config or Config.default())[2]


def is_cached(source: str, config: Config | None = None) -> bool:
    """Whether loading ``source`` needs no compilation (loaded here, or in the cache dir)."""
    _, name, path = _locate(source, config or Config.default())
    return name in _loaded or path.is_file()


def load_kernel(source: str, *, config: Config | None = None) -> ModuleType:
    """Return the compiled module of a generated ``.pyx`` source, compiling it if needed.

    Parameters
    ----------
    source : str
        Cython source, e.g. from :func:`symrates.codegen.render.render`.
    config : Config, optional
        Cache directory, compiler and flags; default :meth:`Config.default`.

    Returns
    -------
    module
        The extension module ``_sr_kernel_<hash16>`` (its name is unique to its content).

    Raises
    ------
    CompilationError
        If Cython or the C compiler fails (the message quotes their output and names the kept
        ``.pyx``; ``.output`` and ``.pyx_path`` carry both), or the cache dir is not writable.
        A build that failed once is not retried in the same process.
    """
    config = config or Config.default()
    tc, name, so_path = _locate(source, config)
    with _lock:
        if name in _loaded:
            STATS.memory_hits += 1
            return _loaded[name]
        if name in _failed:
            raise _failed[name]
    directory = kernel_dir(config)
    if not so_path.is_file():
        with file_lock(directory / f"{name}.lock"):
            if not so_path.is_file():
                try:
                    _build(source, name, directory, so_path, tc)
                except CompilationError as exc:
                    STATS.failures += 1
                    with _lock:
                        _failed[name] = exc
                    raise
                STATS.compiled += 1
            else:
                STATS.disk_hits += 1
    else:
        STATS.disk_hits += 1
    module = _load(name, so_path)
    with _lock:
        return _loaded.setdefault(name, module)


def _load(name: str, path: Path) -> ModuleType:
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise CompilationError(
            f"The cached kernel {str(path)!r} cannot be loaded: {exc}. Delete it with "
            "symrates.clear_cache() and run again to rebuild it.",
            pyx_path=str(path.with_name(name + ".pyx")),
        ) from exc
    return module


def _run(args: list[str], cwd: Path) -> tuple[bool, str]:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{shlex.join(args)}: {exc}"
    output = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, f"$ {shlex.join(args)}\n{output}".strip()


def _quote(output: str) -> str:
    lines = output.splitlines()
    if len(lines) > _QUOTED_LINES:
        lines = [*lines[:_QUOTED_LINES // 2], f"... ({len(lines) - _QUOTED_LINES} lines) ...",
                 *lines[-_QUOTED_LINES // 2:]]
    return "\n".join("    " + line for line in lines)


def _build(
    source: str, name: str, directory: Path, so_path: Path, tc: dict[str, Any]
) -> None:
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{name}_", dir=directory))
    kept_pyx = directory / f"{name}.pyx"
    try:
        pyx = tmp / f"{name}.pyx"
        pyx.write_text(source)
        c_file = tmp / f"{name}.c"
        built = tmp / so_path.name
        steps = (
            ("Cython", [sys.executable, "-m", "cython", *tc["cython_args"], "-o", str(c_file),
                        str(pyx)]),
            ("The C compiler", [*tc["cc"], *tc["cflags"], str(c_file), "-o", str(built),
                                *tc["ldflags"]]),
        )
        for tool, args in steps:
            if shutil.which(tc["cc"][0]) is None:  # checked first: Cython takes a second
                tool, ok, output = "The C compiler", False, (
                    f"C compiler {tc['cc'][0]!r} not found on PATH (set $CC or Config.cc)")
            else:
                ok, output = _run(args, tmp)
            if not ok:
                os.replace(pyx, kept_pyx)
                raise CompilationError(
                    f"{tool} failed to build the kernel {name} (the generated source is kept "
                    f"at {kept_pyx}):\n{_quote(output)}\n"
                    "If the flags are yours (Config.cflags / ldflags), fix them; if the "
                    "compiler or the Python headers are missing, install them (e.g. gcc and "
                    "python3-dev) or use backend='numpy'. Otherwise this is a bug in symrates: "
                    "please report it with the .pyx file.",
                    pyx_path=str(kept_pyx),
                    output=output,
                )
        os.replace(pyx, kept_pyx)
        os.replace(built, so_path)  # last: a module file that exists is complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("compiled kernel %s in %.2f s (%s)", name, time.perf_counter() - start,
                so_path.parent)
