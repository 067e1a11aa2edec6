"""Shared pytest setup for tests/ and the doctests in symrates/: keep them off the user's
kernel cache and off any display.

Kept minimal on purpose; shared reference models live in ``tests/scenarios.py``.
"""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache_dir(tmp_path_factory):
    """Compiled kernels of this test session go to a fresh cache dir, not the user's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMRATES_CACHE_DIR", str(tmp_path_factory.mktemp("symrates-cache")))
        yield
