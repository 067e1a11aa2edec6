"""Numerical continuation of equilibria and of their bifurcations (API.md §6).

``continuation`` follows a curve of equilibria in one parameter, or a fold or Hopf point in two,
with pseudo-arclength steps and the exact derivatives of the symbolic model, and returns a
:class:`Branch` with its located :class:`SpecialPoint` s.
"""

from .api import continuation
from .branch import Branch, SpecialPoint
from .engine import ContinuationError

__all__ = ["continuation", "Branch", "SpecialPoint", "ContinuationError"]
