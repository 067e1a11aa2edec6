"""Path addressing: ``"circuit/node/operator/variable"``.

Every variable of a model has a full path made of ``/``-separated parts. Wherever a path is taken,
any unambiguous *suffix* of whole parts works (``"v"``, ``"rpo_e/v"``, ``"pc/rpo_e/v"``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence

from ..errors import ModelDefinitionError

__all__ = ["SEP", "join", "split", "PathIndex"]

SEP = "/"


def join(*parts: str) -> str:
    """Join path parts, skipping empty ones."""
    return SEP.join(p for p in parts if p)


@functools.lru_cache(maxsize=4096)
def split(path: str) -> tuple[str, ...]:
    """Split a path into its parts (empty parts are dropped)."""
    return tuple(p for p in path.strip().split(SEP) if p)


class PathIndex:
    """Resolve unambiguous path suffixes against a fixed list of full paths.

    Parameters
    ----------
    paths : iterable of str
        The full paths, in the order they should be listed in messages.
    model : str
        The model's name, used in error messages.

    Examples
    --------
    >>> idx = PathIndex(["pc/rpo_e/v", "pc/rpo_i/v", "ein/rpo_e/v"], model="JRC")
    >>> idx.resolve("pc/rpo_e/v")
    'pc/rpo_e/v'
    >>> idx.resolve("rpo_i/v")
    'pc/rpo_i/v'
    """

    def __init__(self, paths: Iterable[str], *, model: str = "model") -> None:
        self.paths: tuple[str, ...] = tuple(paths)
        self.model = model
        self._by_suffix: dict[tuple[str, ...], list[str]] = {}
        for full in self.paths:
            parts = split(full)
            for k in range(1, len(parts) + 1):
                self._by_suffix.setdefault(parts[-k:], []).append(full)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and len(self._by_suffix.get(split(path), ())) == 1

    def matches(self, path: str) -> list[str]:
        """All full paths that end with ``path`` (whole parts)."""
        return list(self._by_suffix.get(split(path), ()))

    def resolve(self, path: str, *, what: str = "variable") -> str:
        """Return the one full path ending in ``path``.

        Raises
        ------
        ModelDefinitionError
            If nothing matches (the message lists the nearest names) or several paths match (the
            message lists them all).
        """
        if not isinstance(path, str) or not split(path):
            raise ModelDefinitionError(
                f"Expected a {what} path such as 'node/operator/variable' in {self.model}, "
                f"got {path!r}."
            )
        found = self.matches(path)
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(repr(p) for p in found)
            raise ModelDefinitionError(
                f"The {what} path {path!r} is ambiguous in {self.model}: it matches {listed}. "
                f"Give more of the path to choose one."
            )
        raise ModelDefinitionError(
            f"Unknown {what} {path!r} in {self.model}. {self._suggest(path)}"
        )

    def short(self, path: str) -> str:
        """The shortest suffix of ``path`` that still resolves to it (for display)."""
        parts = split(path)
        for k in range(1, len(parts) + 1):
            if self._by_suffix.get(parts[-k:]) == [path]:
                return join(*parts[-k:])
        return path

    def resolve_all(self, paths: Sequence[str], *, what: str = "variable") -> list[str]:
        """Resolve several paths (see :meth:`resolve`)."""
        return [self.resolve(p, what=what) for p in paths]

    def _suggest(self, path: str) -> str:
        tail = split(path)[-1]
        names = {split(p)[-1] for p in self.paths}
        close_names = difflib.get_close_matches(tail, sorted(names), n=3, cutoff=0.6)
        close = [p for p in self.paths if split(p)[-1] in close_names]
        close += difflib.get_close_matches(path, self.paths, n=3, cutoff=0.6)
        close = list(dict.fromkeys(close))[:6]
        if close:
            return "Did you mean " + ", ".join(repr(p) for p in close) + "?"
        shown = ", ".join(repr(p) for p in self.paths[:8])
        more = f" and {len(self.paths) - 8} more" if len(self.paths) > 8 else ""
        return f"Known: {shown}{more}." if self.paths else "The model has none."
