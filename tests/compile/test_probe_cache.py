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
