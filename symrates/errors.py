"""The error hierarchy of symrates.

Every error a user can meet derives from :class:`SymratesError`. Messages say *what* is wrong,
*where* (template path, equation, variable), *what is allowed* and *how to fix it*.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SymratesError",
    "SymratesWarning",
    "ModelDefinitionError",
    "EquationParseError",
    "CodegenError",
    "CompilationError",
    "IntegrationError",
    "ConvergenceError",
]


class SymratesError(Exception):
    """Base class of all symrates errors."""


class SymratesWarning(UserWarning):
    """Warnings issued by symrates (always with ``stacklevel=2``)."""


class ModelDefinitionError(SymratesError, ValueError):
    """A template, equation, variable, path or edge is not well defined."""


class EquationParseError(ModelDefinitionError):
    """An equation's text cannot be parsed.

    Attributes
    ----------
    equation : str or None
        The equation text as written by the user.
    path : str or None
        The template path the equation belongs to (e.g. ``"jrc/pc/rpo_e"``).
    position : int or None
        0-based character offset of the offending token in ``equation``.
    """

    def __init__(
        self,
        message: str,
        *,
        equation: str | None = None,
        path: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message)
        self.equation = equation
        self.path = path
        self.position = position


class CodegenError(SymratesError):
    """Code generation failed for a model (a symrates bug or an unsupported construct)."""


class CompilationError(SymratesError, RuntimeError):
    """The C compiler or Cython failed; keeps the ``.pyx`` path and the compiler output."""

    def __init__(self, message: str, *, pyx_path: str | None = None, output: str = "") -> None:
        super().__init__(message)
        self.pyx_path = pyx_path
        self.output = output


class IntegrationError(SymratesError, RuntimeError):
    """A simulation failed; carries the time ``t`` and the ``state`` where it failed."""

    def __init__(self, message: str, *, t: float | None = None, state: Any = None) -> None:
        super().__init__(message)
        self.t = t
        self.state = state


class ConvergenceError(SymratesError, RuntimeError):
    """A Newton iteration or a continuation did not converge."""
