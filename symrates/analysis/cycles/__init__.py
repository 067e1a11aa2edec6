"""Periodic orbits: collocation, Floquet multipliers, continuation of limit cycles (API.md §6)."""

from .orbit import PeriodicOrbit, periodic_orbit

__all__ = ["PeriodicOrbit", "periodic_orbit"]
