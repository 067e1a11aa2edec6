"""OpenMP at install time (setup.py's probe and fallback) and at run time (symrates.compile)."""

import glob
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from symrates._ext import _omp, get_include
from symrates.compile import openmp
from symrates.compile.openmp import (
    CompilerInfo,
    effective_threads,
    openmp_available,
    probe_compiler,
    resolve_openmp,
    usable_cores,
)
from symrates.errors import CompilationError

ROOT = Path(__file__).resolve().parents[2]
SERIAL_INSTALL = os.environ.get("SYMRATES_DISABLE_OPENMP", "").strip() not in ("", "0")

# Loads a freshly built _omp extension by file path in a child process (no sys.path games).
_REPORT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("_omp", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps([module.openmp_enabled(), module.max_threads(), module.openmp_version()]))
"""


def _report(module_path, **env):
    out = subprocess.run(
        [sys.executable, "-c", _REPORT, str(module_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
        timeout=60,
    )
    return json.loads(out.stdout)


# --- the installed extension -------------------------------------------------------------


def test_installed_extension_matches_the_compiler_probe():
    # The install-time probe (setup.py, self.compiler) and the run-time probe must agree.
    assert _omp.openmp_enabled() is (probe_compiler().openmp and not SERIAL_INSTALL)


@pytest.mark.skipif(SERIAL_INSTALL, reason="installed with SYMRATES_DISABLE_OPENMP=1 on purpose")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reference platform: gcc/Linux")
def test_installed_extension_has_openmp_on_the_reference_platform():
    assert _omp.openmp_enabled() is True
    assert _omp.openmp_version() >= 201107  # OpenMP 3.1 or newer
    assert _omp.max_threads() >= 1
    assert openmp_available() is True


def test_installed_extension_uses_a_real_openmp_runtime():
    enabled, threads, version = _report(_omp.__file__, OMP_NUM_THREADS="3")
    assert enabled is _omp.openmp_enabled()
    # The real runtime honours OMP_NUM_THREADS; the serial stub always says 1.
    assert threads == (3 if enabled else 1)
    assert (version > 0) is enabled


def test_shared_headers_are_found():
    include = Path(get_include())
    assert (include / "conditional_omp.h").is_file()
    assert (include / "conditional_omp.pxd").is_file()


def test_openmp_available_logs_when_the_extension_is_missing(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "symrates._ext._omp", None)  # makes the import fail
    openmp_available.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="symrates.compile.openmp"):
            assert openmp_available() is False
    finally:
        openmp_available.cache_clear()
    assert "symrates._ext._omp cannot be imported" in caplog.text
    assert "kernels run single-threaded" in caplog.text


# --- setup.py: the probe and the serial fallback -------------------------------------------


def _compiler_without_openmp(tmp_path):
    """A stand-in C compiler: Python's own compiler, except that it refuses -fopenmp."""
    real_cc = sysconfig.get_config_var("CC") or "cc"
    fake = tmp_path / "cc-without-openmp"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = -fopenmp ] && { echo "fake: no -fopenmp" >&2; exit 1; }; done\n'
        f'exec {real_cc} "$@"\n'
    )
    fake.chmod(0o755)
    return str(fake)


def _build_copy(tmp_path, **env):
    """Build the extension from a copy of setup.py and ext/; nothing is written into the repo."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(ROOT / "setup.py", src / "setup.py")
    shutil.copytree(ROOT / "ext", src / "ext")
    lib, build_tmp = tmp_path / "lib", tmp_path / "tmp"
    env = {k: v for k, v in os.environ.items() if k != "SYMRATES_DISABLE_OPENMP"} | env
    proc = subprocess.run(
        [
            sys.executable,
            "setup.py",
            "build_ext",
            "--build-lib",
            str(lib),
            "--build-temp",
            str(build_tmp),
        ],
        cwd=src,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    (module,) = glob.glob(str(lib / "symrates" / "_ext" / "_omp*"))
    for name in ("conditional_omp.h", "conditional_omp.pxd"):
        assert (lib / "symrates" / "_ext" / "include" / name).is_file()
    assert sorted(p.name for p in src.iterdir()) == ["ext", "setup.py"]  # no C file in sources
    return module, log


@pytest.mark.timeout(60)
def test_setup_falls_back_to_serial_when_openmp_is_disabled(tmp_path):
    module, log = _build_copy(tmp_path, SYMRATES_DISABLE_OPENMP="1")
    assert (
        "symrates: OpenMP disabled by SYMRATES_DISABLE_OPENMP; building serial extensions: "
        "kernels run single-threaded."
    ) in log
    assert "-fopenmp" not in log
    assert _report(module, OMP_NUM_THREADS="3") == [False, 1, 0]


@pytest.mark.timeout(60)
@pytest.mark.skipif(os.name != "posix", reason="the stand-in compiler is a shell script")
def test_setup_falls_back_to_serial_when_the_compiler_lacks_openmp(tmp_path):
    module, log = _build_copy(tmp_path, CC=_compiler_without_openmp(tmp_path))
    assert "symrates: OpenMP was not found (compiling and linking with -fopenmp failed" in log
    assert "kernels run single-threaded" in log
    assert _report(module) == [False, 1, 0]


@pytest.mark.timeout(60)
@pytest.mark.skipif(not probe_compiler().openmp, reason="this compiler has no OpenMP")
def test_setup_builds_with_openmp_when_it_links(tmp_path):
    module, log = _build_copy(tmp_path)
    assert "symrates: OpenMP found (-fopenmp); building parallel extensions." in log
    assert "-DSYMRATES_OPENMP=1" in log
    enabled, threads, version = _report(module, OMP_NUM_THREADS="2")
    assert (enabled, threads) == (True, 2) and version >= 201107


# --- effective_threads -----------------------------------------------------------------------


def test_usable_cores_follows_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert usable_cores() == expected >= 1


def test_effective_threads_none_means_all_usable_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert effective_threads(None) == usable_cores()


@pytest.mark.parametrize(
    ("env", "expected"), [("1", 1), ("1,4", 1), ("100000", None), ("junk", None), ("0", None)]
)
def test_effective_threads_none_respects_omp_num_threads(monkeypatch, env, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert effective_threads(None) == (expected or usable_cores())


def test_effective_threads_honours_explicit_requests_beyond_the_cores(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert effective_threads(1) == 1
    assert effective_threads(usable_cores() + 3) == usable_cores() + 3
    value = effective_threads(np.int32(2))
    assert value == 2 and type(value) is int


@pytest.mark.parametrize("bad", [0, -1, 2.0, 1.5, "2", True, False, [2]])
def test_effective_threads_rejects_invalid_values(bad):
    with pytest.raises(ValueError) as info:
        effective_threads(bad)
    assert str(info.value) == (
        f"n_threads must be None (use all usable cores) or a positive integer, got {bad!r}. "
        "Use n_threads=1 for a serial run."
    )


# --- probe_compiler and resolve_openmp ------------------------------------------------------


def test_probe_compiler_describes_the_default_compiler():
    info = probe_compiler()
    assert isinstance(info, CompilerInfo)
    assert info.works and info.path and os.path.isabs(info.path)
    assert info.version  # first line of --version, part of the kernel cache key
    if info.openmp:
        assert info.openmp_cflags and info.output == ""
    assert probe_compiler() is info  # cached per process


def test_probe_compiler_honours_cc(monkeypatch):
    real = shlex.split(sysconfig.get_config_var("CC") or "cc")[0]
    monkeypatch.setenv("CC", real)
    assert probe_compiler().command == (real,)
    assert probe_compiler("no-such-compiler-xyz").command == ("no-such-compiler-xyz",)


def test_probe_compiler_reports_a_missing_compiler():
    info = probe_compiler("no-such-compiler-xyz --flag")
    assert info == CompilerInfo(
        command=("no-such-compiler-xyz", "--flag"),
        path=None,
        version="",
        works=False,
        openmp=False,
        output="C compiler 'no-such-compiler-xyz --flag' not found on PATH",
    )


@pytest.mark.skipif(os.name != "posix", reason="the stand-in compiler is a shell script")
def test_probe_compiler_detects_a_compiler_without_openmp(tmp_path):
    fake = _compiler_without_openmp(tmp_path)
    info = probe_compiler(fake)
    assert info.works is True and info.openmp is False
    assert "fake: no -fopenmp" in info.output
    with pytest.raises(
        CompilationError,
        match=r"openmp=True was requested, but the C compiler "
        r"'.*cc-without-openmp' cannot compile, link and run an OpenMP program: "
        r".*fake: no -fopenmp.*Install the compiler's OpenMP runtime",
    ) as err:
        resolve_openmp(True, cc=fake)
    assert "fake: no -fopenmp" in err.value.output


def test_resolve_openmp_choices(caplog):
    assert resolve_openmp(False, cc="no-such-compiler-xyz") is False
    with caplog.at_level(logging.INFO, logger="symrates.compile.openmp"):
        assert resolve_openmp(None, cc="no-such-compiler-xyz") is False
    assert (
        "OpenMP is not used (the C compiler 'no-such-compiler-xyz' cannot build OpenMP "
        "code); kernels run single-threaded."
    ) in caplog.text
    with pytest.raises(CompilationError, match="openmp=True was requested"):
        resolve_openmp(True, cc="no-such-compiler-xyz")
    with pytest.raises(ValueError, match=r"openmp must be None .* got 'auto'\."):
        resolve_openmp("auto")
    assert resolve_openmp(None) is (probe_compiler().openmp and openmp_available())


def test_resolve_openmp_auto_follows_a_serial_install(monkeypatch, caplog):
    if not probe_compiler().openmp:
        pytest.skip("this compiler has no OpenMP")
    monkeypatch.setattr(openmp, "openmp_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="symrates.compile.openmp"):
        assert resolve_openmp(None) is False
    assert "symrates was installed without OpenMP" in caplog.text
    assert resolve_openmp(True) is True  # an explicit request only needs the compiler
