"""Analysis on the symbolic system: fixed points, exact derivatives, normal forms, continuation."""

from .continuation import Branch, ContinuationError, SpecialPoint, continuation
from .fixed_points import FixedPoint, fixed_points

__all__ = ["fixed_points", "FixedPoint", "continuation", "Branch", "SpecialPoint",
           "ContinuationError"]
