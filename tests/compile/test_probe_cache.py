"""The compiler probe is kept on disk per compiler binary, and a bad saved file is ignored."""

import json

from symrates.compile import openmp


def test_probe_is_saved_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMRATES_CACHE_DIR", str(tmp_path))
    command = openmp._compiler_command(None)
    openmp._probe.cache_clear()
    first = openmp._probe(command)
    (saved,) = tmp_path.glob("_sr_probe_*.json")
    assert json.loads(saved.read_text())["works"] is first.works is True

    calls = []
    monkeypatch.setattr(openmp, "_probe_now", lambda *a: calls.append(a))
    openmp._probe.cache_clear()
    assert openmp._probe(command) == first and calls == []       # read back, not re-run

    saved.write_text("{not json")
    monkeypatch.undo()
    monkeypatch.setenv("SYMRATES_CACHE_DIR", str(tmp_path))
    openmp._probe.cache_clear()
    assert openmp._probe(command) == first                       # probed again
    openmp._probe.cache_clear()


def test_the_probe_keeps_the_widest_vector_flags_the_compiler_accepts(tmp_path, monkeypatch):
    """An older compiler that does not know the AVX-512 flags gets AVX2 instead of failing
    every kernel build; with none accepted, kernels get no vector flags."""
    from symrates.compile import build

    command = openmp._compiler_command(None)
    path = openmp.shutil.which(command[0])
    unknown = ("-mno-such-vector-extension-xyz",)
    for candidates, expected in (((unknown, ("-mavx2",), ("-mavx",)), ("-mavx2",)),
                                 ((unknown,), ())):
        monkeypatch.setattr(openmp, "vector_flag_candidates", lambda c=candidates: c)
        info = openmp._probe_now(command, path)
        assert info.works and info.vector_flags == expected
    monkeypatch.undo()

    # the real candidates: gcc 12 knows every flag of this processor's widest set
    info = openmp._probe_now(command, path)
    widest = openmp.vector_flag_candidates()
    assert info.vector_flags == (widest[0] if widest else ())
    monkeypatch.setattr(build, "probe_compiler", lambda cc=None: info)
    assert build.vector_flags() == info.vector_flags
    broken = openmp.CompilerInfo(command, path, "", works=False, openmp=False,
                                 vector_flags=("-mavx2",))
    monkeypatch.setattr(build, "probe_compiler", lambda cc=None: broken)
    assert build.vector_flags() == ()


def test_a_probe_saved_for_other_vector_candidates_is_not_reused(tmp_path, monkeypatch):
    """The saved probe's key holds the processor's candidate flags: a cache directory shared
    by machines with other processors gets a probe per processor kind."""
    monkeypatch.setenv("SYMRATES_CACHE_DIR", str(tmp_path))
    command = openmp._compiler_command(None)
    path = openmp.shutil.which(command[0])
    first = openmp._saved_probe_path(command, path)
    monkeypatch.setattr(openmp, "vector_flag_candidates", lambda: (("-mavx",),))
    assert openmp._saved_probe_path(command, path) != first


def test_the_vector_probe_compiles_with_optimisation(monkeypatch):
    """At -O0 the loop would not be vectorised, and the probe would only check that the
    driver takes the flags, not that the assembler takes the instructions."""
    calls = []
    real = openmp._run
    monkeypatch.setattr(openmp, "_run", lambda args, cwd: calls.append(args) or real(args, cwd))
    command = openmp._compiler_command(None)
    openmp._probe_now(command, openmp.shutil.which(command[0]))
    vector = [a for a in calls if any(str(x).endswith("vector.c") for x in a)]
    assert vector and all("-O2" in a for a in vector)
