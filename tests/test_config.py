from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from symrates.config import Config, check_n_threads


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("SYMRATES_CACHE_DIR", raising=False)
    monkeypatch.delenv("SYMRATES_NUM_THREADS", raising=False)
    return monkeypatch


def test_conftest_points_the_cache_at_a_temp_dir():
    config = Config.default()
    assert config.cache_dir != Path(platformdirs.user_cache_dir("symrates"))
    assert "symrates-cache" in config.cache_dir.name


def test_default_without_environment(clean_env):
    config = Config.default()
    assert config.cache_dir == Path(platformdirs.user_cache_dir("symrates")).absolute()
    assert config.openmp is None
    assert config.n_threads is None
    assert config.cflags == ("-O3",)
    assert config.ldflags == ()
    assert config.cc is None


def test_default_reads_the_environment(clean_env, tmp_path):
    clean_env.setenv("SYMRATES_CACHE_DIR", str(tmp_path / "kernels"))
    clean_env.setenv("SYMRATES_NUM_THREADS", " 3 ")
    config = Config.default()
    assert config.cache_dir == tmp_path / "kernels"
    assert config.n_threads == 3


def test_empty_environment_values_count_as_unset(clean_env):
    clean_env.setenv("SYMRATES_CACHE_DIR", "")
    clean_env.setenv("SYMRATES_NUM_THREADS", "")
    config = Config.default()
    assert config.cache_dir == Path(platformdirs.user_cache_dir("symrates")).absolute()
    assert config.n_threads is None


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_invalid_num_threads_environment_is_an_error(clean_env, value):
    clean_env.setenv("SYMRATES_NUM_THREADS", value)
    with pytest.raises(
        ValueError,
        match=r"environment variable SYMRATES_NUM_THREADS must be None "
        r"\(use all usable cores\) or a positive integer, got",
    ):
        Config.default()


def test_cache_dir_is_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = Config(cache_dir="relative/cache")
    assert config.cache_dir == tmp_path / "relative" / "cache"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Config(cache_dir="~/c").cache_dir == tmp_path / "c"


def test_config_is_frozen_and_hashable(tmp_path):
    config = Config(cache_dir=tmp_path)
    with pytest.raises(FrozenInstanceError):
        config.n_threads = 2
    assert hash(config) == hash(Config(cache_dir=str(tmp_path)))
    assert config == Config(cache_dir=str(tmp_path))


def test_with_returns_a_modified_copy(tmp_path):
    base = Config(cache_dir=tmp_path)
    changed = base.with_(n_threads=2, openmp=False, cflags=["-O2", "-g"])
    assert (changed.n_threads, changed.openmp, changed.cflags) == (2, False, ("-O2", "-g"))
    assert changed.cache_dir == base.cache_dir
    assert (base.n_threads, base.openmp, base.cflags) == (None, None, ("-O3",))


def test_with_validates_new_values(tmp_path):
    with pytest.raises(ValueError, match=r"n_threads must be None .* got 0\. Use n_threads=1"):
        Config(cache_dir=tmp_path).with_(n_threads=0)


def test_with_names_unknown_fields(tmp_path):
    with pytest.raises(TypeError) as info:
        Config(cache_dir=tmp_path).with_(n_thread=2, colour="red")
    message = str(info.value)
    assert message.startswith("Config.with_() got unknown field(s) 'n_thread', 'colour'; ")
    assert "valid fields: cache_dir, openmp, n_threads, cflags, ldflags, cc." in message
    assert "Did you mean 'n_threads' instead of 'n_thread'?" in message
    assert "'colour'?" not in message


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("openmp", 1, r"openmp must be None \(use OpenMP where available\), True .* got 1\."),
        ("openmp", "yes", r"openmp must be None .* got 'yes'\."),
        (
            "cflags",
            "-O3 -g",
            r"cflags must be a tuple of strings .* Split it into separate "
            r"flags: \('-O3', '-g'\)\.",
        ),
        ("ldflags", ("-lm", 3), r"ldflags must be a tuple of strings .* got \('-lm', 3\)\."),
        ("cflags", None, r"cflags must be a tuple of strings"),
        ("cc", "  ", r"cc must be None \(use \$CC or Python's compiler\) or a compiler command"),
        ("cache_dir", None, r"cache_dir must be a path \(str or pathlib.Path\), got None\."),
    ],
)
def test_invalid_fields_are_errors(tmp_path, field, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        Config(cache_dir=tmp_path).with_(**{field: value})


def test_check_n_threads():
    assert check_n_threads(None) is None
    assert check_n_threads(4) == 4
    value = check_n_threads(np.int64(2))
    assert value == 2 and type(value) is int
    for bad in (0, -1, 2.0, "2", True):
        with pytest.raises(ValueError, match=r"^n_threads must be None"):
            check_n_threads(bad)
