"""OpenMP: what this installation and the C compiler support, and how many threads to use.

Three questions, answered once per process where the answer cannot change:

- :func:`openmp_available`: was the installed extension ``symrates._ext._omp`` built with
  OpenMP (the install-time probe in ``setup.py``, or ``SYMRATES_DISABLE_OPENMP=1``)?
- :func:`probe_compiler`: which C compiler builds kernels at run time, its version, and whether
  it compiles, links and runs an OpenMP program (and with which flags).
- :func:`effective_threads`: the number of threads for a requested ``n_threads``.

:func:`resolve_openmp` combines them into the decision for one kernel build.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from symrates.config import check_n_threads
from symrates.errors import CompilationError

__all__ = [
    "CompilerInfo",
    "effective_threads",
    "openmp_available",
    "probe_compiler",
    "resolve_openmp",
    "usable_cores",
    "vector_flag_candidates",
]

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT = 120.0  # seconds for one compiler call

_PLAIN_PROGRAM = "int main(void) { return 0; }\n"

# a loop the compiler vectorises with the flags under test at -O2, so that the assembler
# sees the instructions too (not run: the processor has them)
_VECTOR_PROGRAM = r"""
/* compiled with -O2 and the flags under test */
double x[64];

int main(void) {
    for (int i = 0; i < 64; i++) x[i] = x[i] * 2.0 + 1.0;
    return x[3] > 1e300;
}
"""

_OPENMP_PROGRAM = r"""
#include <omp.h>
#include <stdio.h>

int main(void) {
    int n = 0;
#pragma omp parallel
    {
#pragma omp atomic
        n += 1;
    }
    printf("%d %d\n", n, omp_get_max_threads());
    return n < 1;
}
"""


@dataclass(frozen=True)
class CompilerInfo:
    """What :func:`probe_compiler` found out about a C compiler.

    Attributes
    ----------
    command : tuple of str
        The compiler command as it is run, e.g. ``("gcc", "-pthread")``.
    path : str or None
        The resolved executable, ``None`` if it is not on ``PATH``.
    version : str
        First line of ``<compiler> --version`` (part of the kernel cache key); ``""`` if unknown.
    works : bool
        It compiles and links a plain C program.
    openmp : bool
        It compiles, links and runs an OpenMP program with ``openmp_cflags``/``openmp_ldflags``.
    openmp_cflags, openmp_ldflags : tuple of str
        The flags that enable OpenMP (empty when ``openmp`` is False).
    vector_flags : tuple of str
        The widest of this processor's vector instruction sets
        (:func:`vector_flag_candidates`) whose flags the compiler accepts; empty when it
        accepts none of them, or the processor is not x86-64.
    output : str
        What the compiler said in the first step that failed; ``""`` when everything worked.

    Examples
    --------
    >>> from symrates.compile.openmp import probe_compiler
    >>> info = probe_compiler()
    >>> isinstance(info.openmp, bool)
    True
    """

    command: tuple[str, ...]
    path: str | None
    version: str
    works: bool
    openmp: bool
    openmp_cflags: tuple[str, ...] = ()
    openmp_ldflags: tuple[str, ...] = ()
    output: str = ""
    vector_flags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The command as one string, for messages."""
        return shlex.join(self.command)


@functools.lru_cache(maxsize=1)
def openmp_available() -> bool:
    """Return True if the installed extension ``symrates._ext._omp`` was built with OpenMP.

    If the extension cannot be imported (a source tree without a build, a broken install), the
    answer is False and a warning is logged. Cached for the process.

    Returns
    -------
    bool

    Examples
    --------
    >>> from symrates.compile.openmp import openmp_available
    >>> openmp_available() in (True, False)
    True
    """
    try:
        _omp = importlib.import_module("symrates._ext._omp")
    except ImportError as exc:
        logger.warning(
            "The extension symrates._ext._omp cannot be imported (%s): OpenMP is treated as "
            "unavailable and kernels run single-threaded. Reinstall symrates "
            "(`python -m pip install .`) to build it.",
            exc,
        )
        return False
    return bool(_omp.openmp_enabled())


def usable_cores() -> int:
    """Return the number of CPU cores this process may run on (at least 1).

    Uses the CPU affinity mask where the platform has one (``os.sched_getaffinity``), so a
    process restricted by ``taskset`` or a container's cpuset counts only its own cores.

    Examples
    --------
    >>> from symrates.compile.openmp import usable_cores
    >>> usable_cores() >= 1
    True
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, count)


def _omp_num_threads_env() -> int | None:
    """The first level of ``OMP_NUM_THREADS`` (e.g. ``"4"`` or ``"4,2"``), None if unset/invalid."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not raw:
        return None
    try:
        value = int(raw.split(",")[0])
    except ValueError:
        logger.debug("Ignoring OMP_NUM_THREADS=%r: not a positive integer.", raw)
        return None
    return value if value >= 1 else None


def effective_threads(requested: int | None) -> int:
    """Return the number of threads a kernel uses for a requested ``n_threads``.

    Parameters
    ----------
    requested : int or None
        A positive integer is used as given, even above the number of cores (so that results
        for different thread counts can be compared anywhere). ``None`` means all usable cores
        (:func:`usable_cores`), limited by ``OMP_NUM_THREADS`` when that is set.

    Returns
    -------
    int
        At least 1.

    Raises
    ------
    ValueError
        If ``requested`` is not ``None`` or an integer >= 1 (0, negative numbers, floats,
        strings and booleans are refused); the message names ``n_threads``.

    Examples
    --------
    >>> from symrates.compile.openmp import effective_threads
    >>> effective_threads(3)
    3
    >>> effective_threads(None) >= 1
    True
    """
    number = check_n_threads(requested, name="n_threads")
    if number is not None:
        return number
    cores = usable_cores()
    limit = _omp_num_threads_env()
    return min(cores, limit) if limit is not None else cores


def _compiler_command(cc: str | None) -> tuple[str, ...]:
    return _split_command(cc or os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


@functools.lru_cache(maxsize=16)
def _split_command(raw: str) -> tuple[str, ...]:
    return tuple(shlex.split(raw))


def _run(args: list[str], cwd: str) -> tuple[bool, str]:
    """Run one compiler (or probe program) call; return (success, combined output)."""
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{shlex.join(args)}: {exc}"
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        return False, f"{shlex.join(args)} exited with {proc.returncode}: {output}"
    return True, output


@functools.lru_cache(maxsize=1)
def vector_flag_candidates() -> tuple[tuple[str, ...], ...]:
    """The compiler flags of this processor's vector instruction sets, widest first (x86-64
    only): AVX-512 (F, CD, VL, BW, DQ, as in x86-64-v4), AVX2, AVX; empty elsewhere.

    The processor's features come from numpy's CPU dispatch. :func:`probe_compiler` keeps the
    first set the compiler accepts (an older compiler may not know the AVX-512 flags).
    """
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return ()
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return ()
    out = []
    avx512 = ("AVX512F", "AVX512CD", "AVX512VL", "AVX512BW", "AVX512DQ")
    if features.get("AVX2") and all(features.get(f) for f in avx512):
        out.append(("-mavx2", *(f"-m{f.lower()}" for f in avx512)))
    if features.get("AVX2"):
        out.append(("-mavx2",))
    if features.get("AVX"):
        out.append(("-mavx",))
    return tuple(out)


def _accepted_vector_flags(command: tuple[str, ...], tmp: str) -> tuple[str, ...]:
    """The first of :func:`vector_flag_candidates` with which ``command`` compiles and links
    a C program (``()`` if none)."""
    source = Path(tmp, "vector.c")
    source.write_text(_VECTOR_PROGRAM)
    for index, flags in enumerate(vector_flag_candidates()):
        ok, _ = _run([*command, "-O2", *flags, str(source), "-o",
                      str(Path(tmp, f"vector{index}"))], cwd=tmp)
        if ok:
            return tuple(flags)
    return ()


def _openmp_flag_candidates() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    candidates = [(("-fopenmp",), ("-fopenmp",))]
    if sys.platform == "darwin":  # Apple clang with Homebrew's libomp
        candidates.append((("-Xpreprocessor", "-fopenmp"), ("-lomp",)))
    return candidates


def _saved_probe_path(command: tuple[str, ...], path: str) -> Path | None:
    """Where the probe result of this exact compiler binary is kept between processes."""
    import hashlib
    import json

    from symrates.config import Config

    try:
        st = os.stat(path)
        cache_dir = Config.default().cache_dir
    except (OSError, ValueError):
        return None
    key = json.dumps([command, path, st.st_mtime_ns, st.st_size, sys.platform, _PLAIN_PROGRAM,
                      _OPENMP_PROGRAM, _VECTOR_PROGRAM, vector_flag_candidates()])
    return cache_dir / f"_sr_probe_{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


@functools.cache
def _probe(command: tuple[str, ...]) -> CompilerInfo:
    """The probe, kept on disk per compiler binary (path, size, mtime): compiling and running
    the test programs costs about 0.07 s, which every process start would otherwise pay."""
    import dataclasses
    import json

    path = shutil.which(command[0]) if command else None
    saved = _saved_probe_path(command, path) if path else None
    if saved is not None and saved.is_file():
        try:
            data = json.loads(saved.read_text())
            return CompilerInfo(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in data.items()})
        except (OSError, ValueError, TypeError):
            pass                                        # unreadable: probe again
    info = _probe_now(command, path)
    if saved is not None and info.works:
        try:
            saved.parent.mkdir(parents=True, exist_ok=True)
            tmp = saved.with_name(f"{saved.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(dataclasses.asdict(info)))
            os.replace(tmp, saved)
        except OSError:
            pass                                        # a read-only cache only costs time
    return info


def _probe_now(command: tuple[str, ...], path: str | None) -> CompilerInfo:
    if path is None:
        return CompilerInfo(
            command=command,
            path=None,
            version="",
            works=False,
            openmp=False,
            output=f"C compiler {shlex.join(command)!r} not found on PATH",
        )
    ok, output = _run([*command, "--version"], cwd=tempfile.gettempdir())
    version = next((line.strip() for line in output.splitlines() if line.strip()), "") if ok else ""

    with tempfile.TemporaryDirectory(prefix="symrates-cc-probe-") as tmp:
        plain = Path(tmp, "plain.c")
        plain.write_text(_PLAIN_PROGRAM)
        ok, output = _run([*command, str(plain), "-o", str(Path(tmp, "plain"))], cwd=tmp)
        if not ok:
            return CompilerInfo(command, path, version, works=False, openmp=False, output=output)
        vector = _accepted_vector_flags(command, tmp)

        source = Path(tmp, "openmp.c")
        source.write_text(_OPENMP_PROGRAM)
        failures = []
        for index, (cflags, ldflags) in enumerate(_openmp_flag_candidates()):
            exe = str(Path(tmp, f"openmp{index}"))
            ok, output = _run([*command, *cflags, str(source), "-o", exe, *ldflags], cwd=tmp)
            if ok:
                ok, output = _run([exe], cwd=tmp)
            if ok:
                return CompilerInfo(
                    command,
                    path,
                    version,
                    works=True,
                    openmp=True,
                    openmp_cflags=cflags,
                    openmp_ldflags=ldflags,
                    vector_flags=vector,
                )
            failures.append(output)
    return CompilerInfo(
        command, path, version, works=True, openmp=False, output="\n".join(failures),
        vector_flags=vector,
    )


def probe_compiler(cc: str | None = None) -> CompilerInfo:
    """Find out what the C compiler that builds kernels can do.

    Compiles and links a plain C program, then the same vectorisable loop with each of the
    processor's vector instruction sets (:func:`vector_flag_candidates`, widest first, until
    one compiles), then an OpenMP program (``-fopenmp``; on macOS also
    ``-Xpreprocessor -fopenmp -lomp``), which is also run. Everything happens in a temporary
    directory. The result is cached per process for each compiler command.

    Parameters
    ----------
    cc : str or None, optional
        Compiler command, e.g. ``"gcc"`` or ``"clang"``. ``None`` uses ``$CC``, else the
        compiler Python was built with (``sysconfig``'s ``CC``), else ``cc``.

    Returns
    -------
    CompilerInfo
        A compiler that is missing or broken gives ``works=False`` (and ``output`` says why);
        this function does not raise for it.

    Examples
    --------
    >>> from symrates.compile.openmp import probe_compiler
    >>> probe_compiler("no-such-compiler").works
    False
    """
    return _probe(_compiler_command(cc))


def resolve_openmp(requested: bool | None, *, cc: str | None = None) -> bool:
    """Decide whether a kernel is built with OpenMP (``Config.openmp`` → yes or no).

    Parameters
    ----------
    requested : bool or None
        ``False``: serial. ``True``: OpenMP is required. ``None`` (auto): OpenMP when the
        installed extension was built with it (:func:`openmp_available`) and the compiler can
        build it (:func:`probe_compiler`), else serial, which is logged.
    cc : str or None, optional
        The compiler command, as for :func:`probe_compiler`.

    Returns
    -------
    bool

    Raises
    ------
    CompilationError
        If ``requested`` is True and the compiler cannot build OpenMP code.
    ValueError
        If ``requested`` is not None, True or False.

    Examples
    --------
    >>> from symrates.compile.openmp import resolve_openmp
    >>> resolve_openmp(False)
    False
    """
    if requested is False:
        return False
    if requested is not None and requested is not True:
        raise ValueError(
            f"openmp must be None (use OpenMP where available), True (require it) or False "
            f"(serial), got {requested!r}."
        )
    info = probe_compiler(cc)
    if requested is True:
        if info.openmp:
            return True
        raise CompilationError(
            f"openmp=True was requested, but the C compiler {info.name!r} cannot compile, link "
            f"and run an OpenMP program: {_last_lines(info.output)}. Install the compiler's "
            "OpenMP runtime (libgomp for gcc, libomp for clang), choose another compiler with "
            "cc=..., or use openmp=None to fall back to serial kernels.",
            output=info.output,
        )
    if info.openmp and openmp_available():
        return True
    if not info.openmp:
        reason = f"the C compiler {info.name!r} cannot build OpenMP code"
    else:
        reason = "symrates was installed without OpenMP"
    logger.info("OpenMP is not used (%s); kernels run single-threaded.", reason)
    return False


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "no compiler output"
