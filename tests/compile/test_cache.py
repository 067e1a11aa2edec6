"""The kernel cache: keys, names, files, concurrent builds, failed builds, clearing."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import symrates as sr
from symrates.compile import build, cache
from symrates.compile.build import BASE_CFLAGS, is_cached, kernel_path, load_kernel, toolchain
from symrates.compile.cache import STATS, cache_key, clear_cache, module_name
from symrates.config import Config
from symrates.runtime.compiled import kernel_source
from tests.scenarios import LEAKY

ROOT = Path(__file__).resolve().parents[2]


def _new_equation() -> str:
    """An equation whose kernel no cache has seen (a unique constant)."""
    return f"x' = -x*{1.0 + (uuid.uuid4().int % 10**6) / 10**7!r} + a"


def _new_model(tag: str) -> sr.OperatorTemplate:
    return sr.OperatorTemplate(f"new_{tag}", [_new_equation()], {"x": "output(0.0)", "a": 1.0})


def test_key_covers_flags_compiler_versions_and_platform(tmp_path):
    config = Config(cache_dir=tmp_path)
    tc = toolchain(config)
    source = kernel_source(sr.build(LEAKY))
    key = cache_key(source, tc)
    assert key == cache_key(source, toolchain(config))              # stable
    assert key != cache_key(source + "\n", tc)                       # the source
    assert key != cache_key(source, toolchain(config.with_(cflags=("-O2",))))
    assert key != cache_key(source, toolchain(config.with_(cflags=("-O3", "-march=native"))))
    assert key != cache_key(source, toolchain(config.with_(ldflags=("-lm",))))
    for field, value in [("cc_version", "gcc 0.0"), ("machine", "riscv64"),
                         ("abi", ".cpython-399-x.so"), ("versions", {"cython": "0.1"})]:
        assert key != cache_key(source, {**tc, field: value}), field
    assert tc["cflags"][:len(BASE_CFLAGS)] == list(BASE_CFLAGS)
    assert "-O3" in tc["cflags"] and "-march=native" not in tc["cflags"]
    assert "-ffast-math" not in tc["cflags"]
    assert set(tc["versions"]) == {"symrates", "cython", "numpy"}
    assert tc["cc_version"]            # the compiler's --version line
    assert module_name(key) == "_sr_kernel_" + key[:16]
    assert kernel_path(source, config) == tmp_path / (module_name(key) + tc["abi"])


def test_kernels_get_this_processors_vector_flags_unless_the_config_chooses(tmp_path,
                                                                          monkeypatch):
    from symrates.compile import build

    config = Config(cache_dir=tmp_path)
    wide = ("-mavx2", "-mavx512f")
    monkeypatch.setattr(build, "vector_flags", lambda cc=None: wide)
    build._toolchain_cached.cache_clear()
    try:
        flags = toolchain(config)["cflags"]
        assert flags[flags.index("-mavx2"):flags.index("-mavx2") + 2] == list(wide)
        assert flags.index("-mavx512f") < flags.index("-O3")    # the config's flags win
        for chosen in (("-O3", "-march=native"), ("-O2", "-mavx"), ("-O3", "-mno-avx512f")):
            flags = toolchain(config.with_(cflags=chosen))["cflags"]
            assert "-mavx512f" not in flags and flags[-4:-2] == list(chosen)
    finally:
        build._toolchain_cached.cache_clear()


def test_compiled_module_is_cached_by_hash_and_nothing_else_is_touched(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config = Config(cache_dir=cache_dir)
    source = kernel_source(sr.build(_new_model("files")))
    path_before = list(sys.path)
    before = STATS.snapshot()
    module = load_kernel(source, config=config)
    assert STATS.compiled == before["compiled"] + 1
    so = kernel_path(source, config)
    assert Path(module.__file__) == so and so.is_file()
    assert module.__name__ == so.name.split(".")[0]
    assert so.with_name(module.__name__ + ".pyx").read_text() == source
    assert not any(p.name.startswith(cache.BUILD_PREFIX) for p in cache_dir.iterdir())
    assert list(work.iterdir()) == []                    # nothing in the working directory
    assert Path.cwd() == work and sys.path == path_before
    # again: from memory; after forgetting it: from disk; never compiled again
    assert load_kernel(source, config=config) is module
    build.forget_loaded()
    assert is_cached(source, config)
    load_kernel(source, config=config)
    after = STATS.snapshot()
    assert after["compiled"] == before["compiled"] + 1
    assert after["memory_hits"] == before["memory_hits"] + 1
    assert after["disk_hits"] == before["disk_hits"] + 1


_BUILD_AND_REPORT = textwrap.dedent("""
    import json, sys
    import symrates as sr
    from symrates.compile.cache import STATS
    op = sr.OperatorTemplate("new_concurrent", [sys.argv[1]], {"x": "output(0.0)", "a": 1.0})
    res = sr.simulate(op, 1.0, dt=0.01, method="rk4", backend="cython")
    print(json.dumps({"stats": STATS.snapshot(), "x": float(res.final_state["x"])}))
""")


def test_two_processes_building_the_same_new_model_both_succeed(tmp_path):
    # an empty cache dir and a model nobody compiled before, built by two processes at once
    env = {**os.environ, "SYMRATES_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-c", _BUILD_AND_REPORT, _new_equation()]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert reports[0]["x"] == reports[1]["x"]
    assert sum(r["stats"]["compiled"] for r in reports) == 1        # compiled once ...
    assert sum(r["stats"]["disk_hits"] for r in reports) == 1       # ... and loaded once
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [f for f in files if f.endswith(".pyx")] and not [
        f for f in files if f.startswith(cache.BUILD_PREFIX)]
    # a third process starts warm: no compilation
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=300, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1])["stats"]["compiled"] == 0


def test_a_failed_compile_raises_with_the_compiler_output_and_the_kept_pyx(tmp_path, monkeypatch,
                                                                          caplog):
    broken = Config(cache_dir=tmp_path, cflags=("-O3", "-fno-such-flag"))
    monkeypatch.setattr(Config, "default", classmethod(lambda cls: broken))
    model = _new_model("broken")
    with pytest.raises(sr.CompilationError) as info:
        sr.simulate(model, 1.0, dt=0.01, method="euler", backend="cython")
    error = info.value
    pyx = tmp_path / (kernel_path(kernel_source(sr.build(model)), broken).name.split(".")[0]
                      + ".pyx")
    assert "The C compiler failed to build the kernel" in str(error)
    assert "-fno-such-flag" in str(error) and "-fno-such-flag" in error.output
    assert str(pyx) in str(error) and error.pyx_path == str(pyx) and pyx.is_file()
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob(cache.BUILD_PREFIX + "*"))
    # backend="auto" falls back to numpy and says why (the failure is not retried)
    before = STATS.snapshot()
    with caplog.at_level(logging.WARNING, logger="symrates.runtime.simulate"):
        res = sr.simulate(model, 1.0, dt=0.01, method="euler", backend="auto")
    assert "the compiled kernel could not be built" in caplog.text
    assert res["x"].shape == (101,)
    assert STATS.snapshot()["compiled"] == before["compiled"]


def test_an_unusable_cache_dir_is_a_compilation_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = Config(cache_dir=blocker / "cache")
    with pytest.raises(sr.CompilationError, match=r"Cannot create the kernel cache directory .*"
                                                  r"SYMRATES_CACHE_DIR"):
        load_kernel(kernel_source(sr.build(LEAKY)), config=config)


def test_clear_cache_removes_kernels_only_and_forces_a_rebuild(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMRATES_CACHE_DIR", str(tmp_path))
    (tmp_path / "notes.txt").write_text("keep me")
    model = sr.build(_new_model("clear"))     # one system: its module is remembered on it
    sr.simulate(model, 1.0, dt=0.01, method="euler", backend="cython")
    before = STATS.snapshot()
    sr.simulate(model, 1.0, dt=0.01, method="euler", backend="auto")
    assert STATS.snapshot()["memory_hits"] == before["memory_hits"] + 1
    kernels = [p for p in tmp_path.iterdir() if p.name.startswith("_sr_kernel_")]
    assert {p.suffix for p in kernels} >= {".so", ".pyx"}
    sources = [p for p in tmp_path.iterdir() if p.name.startswith("_sr_source_")]
    assert len(sources) == 1        # the generated source, kept for the next process
    assert clear_cache() == len(kernels) + len(sources)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    before = STATS.snapshot()
    sr.simulate(model, 1.0, dt=0.01, method="euler", backend="cython")   # not the forgotten one
    assert STATS.snapshot()["compiled"] == before["compiled"] + 1
    assert clear_cache(Config(cache_dir=tmp_path / "missing")) == 0


def test_a_damaged_kept_source_is_generated_again(tmp_path, monkeypatch):
    """The generated source kept between processes ends with its checksum: an empty or cut
    file (a crash, a full disk) is noticed and generated again, not compiled."""
    import symrates as sr
    from symrates.runtime import compiled

    monkeypatch.setenv("SYMRATES_CACHE_DIR", str(tmp_path))
    system = sr.build("fitzhugh_nagumo.FHN")
    source = compiled.kernel_source(system)
    (kept,) = tmp_path.glob("_sr_source_*.pyx.txt")
    assert kept.read_text().startswith(source)
    for damage in ("", kept.read_text()[:2000], kept.read_text().replace("_sr_", "_xx_", 1)):
        kept.write_text(damage)
        again = sr.build("fitzhugh_nagumo.FHN")          # a new system: no cached source
        assert compiled.kernel_source(again) == source
        assert kept.read_text().startswith(source)       # kept anew, whole
    res = sr.simulate(sr.build("fitzhugh_nagumo.FHN"), 1.0, dt=0.01, backend="cython")
    assert res["v"].shape == (101,) and not any(v != v for v in res["v"])     # no NaN
