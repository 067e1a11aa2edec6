"""Parameter scans and quasi-static sweeps (API.md §7, DESIGN.md §7).

``scan`` runs every parameter set of a grid as one copy of the model in a batch (``B`` copies per
simulation), reducing each run to observables over a window; ``sweep`` walks one parameter up and
down, each value starting from the final state of the one before.
"""

from .api import scan, sweep
from .execute import ChunkFailure, ScanError
from .results import ScanResult, SweepResult
from .spec import STATISTICS, Axis

__all__ = ["scan", "sweep", "ScanResult", "SweepResult", "ScanError", "ChunkFailure",
           "STATISTICS", "Axis"]
