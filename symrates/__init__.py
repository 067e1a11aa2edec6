"""symrates: rate-based neural population models as sympy equations.

Models are written as operator → node → edge → circuit templates (in Python or in PyRates' YAML
format), held as sympy expression graphs, analysed on their exact symbolic form and simulated.

Examples
--------
>>> import symrates as sr
>>> system = sr.build("jansen_rit.JRC")
>>> res = sr.simulate(system, 0.1, dt=1e-4)
>>> res["pc/RPO_e_pc/v"].shape
(1001,)
"""

from ._version import __version__
from .compile.cache import clear_cache
from .errors import (
    CodegenError,
    CompilationError,
    ConvergenceError,
    EquationParseError,
    IntegrationError,
    ModelDefinitionError,
    SymratesError,
    SymratesWarning,
)
from .frontend.circuits import CircuitTemplate
from .frontend.templates import EdgeTemplate, NodeTemplate, OperatorTemplate
from .frontend.yaml_io import list_models, load, save, to_yaml
from .ir.build import build
from .ir.network import Coupling, Network, network
from .ir.system import SymbolicSystem
from .runtime.result import SimulationResult
from .runtime.simulate import simulate

__all__ = [
    "__version__",
    "OperatorTemplate",
    "NodeTemplate",
    "EdgeTemplate",
    "CircuitTemplate",
    "load",
    "save",
    "to_yaml",
    "list_models",
    "build",
    "SymbolicSystem",
    "network",
    "Network",
    "Coupling",
    "simulate",
    "SimulationResult",
    "fixed_points",
    "clear_cache",
    "continuation",
    "Branch",
    "SpecialPoint",
    "ContinuationError",
    "scan",
    "sweep",
    "ScanResult",
    "SweepResult",
    "ScanError",
    "FixedPoint",
    "periodic_orbit",
    "PeriodicOrbit",
    "SymratesError",
    "SymratesWarning",
    "ModelDefinitionError",
    "EquationParseError",
    "CodegenError",
    "CompilationError",
    "IntegrationError",
    "ConvergenceError",
]

# Analysis is imported when first used: it pulls in scipy.optimize and scipy.signal, which would
# otherwise add about half a second to every ``import symrates`` (BENCHMARKS.md B4).
_LAZY = {
    "continuation": "analysis.continuation", "Branch": "analysis.continuation",
    "SpecialPoint": "analysis.continuation", "ContinuationError": "analysis.continuation",
    "fixed_points": "analysis.fixed_points", "FixedPoint": "analysis.fixed_points",
    "periodic_orbit": "analysis.cycles", "PeriodicOrbit": "analysis.cycles",
    "scan": "analysis.scans", "sweep": "analysis.scans", "ScanResult": "analysis.scans",
    "SweepResult": "analysis.scans", "ScanError": "analysis.scans",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symrates' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
