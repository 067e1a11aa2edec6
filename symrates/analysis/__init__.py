"""Analysis on the symbolic system: fixed points, exact derivatives, normal forms, continuation,
scans. ``import symrates`` loads this package only when an analysis function is first used."""

from .continuation import Branch, ContinuationError, SpecialPoint, continuation
from .cycles import PeriodicOrbit, periodic_orbit
from .fixed_points import FixedPoint, fixed_points

__all__ = ["fixed_points", "FixedPoint", "continuation", "Branch", "SpecialPoint",
           "ContinuationError", "periodic_orbit", "PeriodicOrbit"]
