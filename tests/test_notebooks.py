"""Run every notebook in ``notebooks/`` and fail on any cell error.

Each notebook runs in a fresh ``python3`` kernel, in a temporary working directory (a notebook
must not write into the repository), with ``MPLBACKEND=Agg`` so that plotting needs no display.
The test is parametrised over the notebook files, so a new notebook is picked up without changing
this file. nbclient, nbformat and ipykernel are in the ``test`` extra; if one is missing the test
fails (it is not skipped) and says how to install them.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
TIMEOUT = 600  # seconds per cell
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(
            f"Running the notebooks needs {module!r}, which is not installed ({exc}). Install "
            f"the test tools (nbclient, nbformat, ipykernel) with: "
            f"python -m pip install -e \".[test]\"",
            pytrace=False,
        )


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {ROOT / 'notebooks'}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nbformat = _require("nbformat")
    nbclient = _require("nbclient")
    _require("ipykernel")
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL, (
        f"{path.name} must use the {KERNEL!r} kernel"
    )
    stored = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not stored, f"{path.name} stores outputs in code cells {stored}; clear them"

    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    # the kernel imports symrates from this checkout, as pytest does
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    # os.environ already holds the session's isolated SYMRATES_CACHE_DIR (tests/conftest.py)

    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},
        allow_errors=False,
    )
    failure = None
    try:
        client.execute(cwd=str(tmp_path), env=env)
    except CellExecutionError as exc:
        failure = _ANSI.sub("", str(exc))
    if failure is not None:
        pytest.fail(f"{path.name}: a cell failed:\n{failure}", pytrace=False)

    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: error outputs {errors}"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert not leftovers, f"{path.name} wrote into its working directory: {leftovers}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
