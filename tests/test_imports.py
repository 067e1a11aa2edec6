"""import symrates stays light: analysis loads when first used (BENCHMARKS.md B4)."""

import subprocess
import sys

import symrates as sr


def test_import_does_not_load_the_analysis_stack():
    code = ("import sys, symrates; print(sorted(m for m in ('scipy.optimize', 'scipy.signal', "
            "'symrates.analysis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_lazy_names_resolve_and_are_listed():
    for name in ("continuation", "Branch", "SpecialPoint", "fixed_points", "scan", "sweep",
                 "ScanResult", "periodic_orbit", "PeriodicOrbit"):
        assert name in sr.__all__ and name in dir(sr)
        assert getattr(sr, name).__name__ == name
    try:
        sr.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no attribute 'no_such_name'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
