"""The compiled-kernel cache: keys, file names, a file lock, statistics and clearing.

A kernel module is cached under ``Config.cache_dir`` (``$SYMRATES_CACHE_DIR`` or the user cache
dir) as ``_sr_kernel_<hash16><EXT_SUFFIX>`` with its ``.pyx`` beside it. The hash is the
:func:`cache_key`: a sha256 over the generated source and everything else that decides the
binary (versions, compiler, all flags, CPU architecture, Python ABI). It is part of the module
name because a reloaded path returns the module loaded first.

:data:`STATS` counts what :func:`symrates.compile.build.load_kernel` did in this process, so
that a test can assert that a run did not compile.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from symrates.config import Config
from symrates.errors import CompilationError

try:  # POSIX; elsewhere the atomic os.replace alone keeps concurrent builds safe
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "KERNEL_PREFIX",
    "CacheStats",
    "STATS",
    "cache_key",
    "module_name",
    "kernel_dir",
    "file_lock",
    "keep_source",
    "read_kept_source",
    "clear_cache",
]

logger = logging.getLogger(__name__)

#: Every file and directory the cache creates starts with this prefix.
KERNEL_PREFIX = "_sr_kernel_"
#: Generated sources kept so that a new process need not render them again (removed by
#: clear_cache with the kernels).
SOURCE_PREFIXES = ("_sr_source_", "_sr_batch_")
#: The directory of the compiled Jinja2 templates (see symrates.codegen.render).
TEMPLATES_DIR = "_sr_templates"
#: Temporary build directories (inside the cache dir) start with this prefix.
BUILD_PREFIX = "_sr_build_"
#: Hex digits of the key in the module name.
NAME_DIGITS = 16


@dataclass
class CacheStats:
    """What :func:`~symrates.compile.build.load_kernel` did in this process.

    Attributes
    ----------
    compiled : int
        Modules compiled (Cython and the C compiler ran).
    disk_hits : int
        Modules loaded from the cache directory without compiling (also when another
        process finished the build while this one waited for the lock).
    memory_hits : int
        Modules already loaded in this process.
    failures : int
        Builds that raised :class:`~symrates.errors.CompilationError`.
    """

    compiled: int = 0
    disk_hits: int = 0
    memory_hits: int = 0
    failures: int = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict (a copy)."""
        return asdict(self)


#: The counters of this process (only ever incremented).
STATS = CacheStats()


def cache_key(source: str, toolchain: Mapping[str, object]) -> str:
    """Return the sha256 hex digest identifying a compiled module.

    Parameters
    ----------
    source : str
        The generated ``.pyx`` text.
    toolchain : mapping
        Everything else that decides the binary: symrates, Cython and numpy versions, the
        compiler's version line, all compiler and linker flags, ``platform.machine()``, the
        Python ABI (see :func:`symrates.compile.build.toolchain`). JSON-serialisable.

    Examples
    --------
    >>> a = cache_key("x", {"cflags": ["-O3"]})
    >>> a == cache_key("x", {"cflags": ["-O3"]}), a == cache_key("x", {"cflags": ["-O2"]})
    (True, False)
    """
    h = hashlib.sha256()
    h.update(source.encode())
    h.update(b"\0")
    h.update(json.dumps(dict(toolchain), sort_keys=True, default=str).encode())
    return h.hexdigest()


def module_name(key: str) -> str:
    """The module name for a key: ``_sr_kernel_<first 16 hex digits>``.

    Examples
    --------
    >>> module_name("0123456789abcdef" * 4)
    '_sr_kernel_0123456789abcdef'
    """
    return KERNEL_PREFIX + key[:NAME_DIGITS]


def kernel_dir(config: Config | None = None) -> Path:
    """The cache directory of ``config`` (default: :meth:`Config.default`), created if missing.

    Raises
    ------
    CompilationError
        If the directory cannot be created or written.
    """
    directory = (config or Config.default()).cache_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompilationError(
            f"Cannot create the kernel cache directory {str(directory)!r}: {exc}. Set the "
            "environment variable SYMRATES_CACHE_DIR to a writable directory."
        ) from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CompilationError(
            f"The kernel cache directory {str(directory)!r} is not writable. Set the "
            "environment variable SYMRATES_CACHE_DIR to a writable directory."
        )
    return directory


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created if missing) inside the block.

    Other processes (and other threads of this one) entering the block with the same path
    wait until it is left. Without ``fcntl`` (Windows) the block runs unlocked.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


#: The last line of a kept source: the SHA-256 of the text before it.
_SOURCE_CHECK = "# symrates source sha256: "


def keep_source(path: Path, source: str) -> None:
    """Keep a generated source in ``path`` for later processes (a warm start then skips
    generating it): written whole under another name, then renamed, so readers never see
    half a file, and ending with its checksum, so that :func:`read_kept_source` notices a
    file that a crash or a full disk cut short. Errors only cost the next start that time."""
    try:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{source}{_SOURCE_CHECK}{hashlib.sha256(source.encode()).hexdigest()}\n")
        os.replace(tmp, path)
    except OSError as exc:
        logger.debug("could not keep the generated source in %s: %s", path, exc)


def read_kept_source(path: Path) -> str | None:
    """The source :func:`keep_source` kept in ``path``; None if there is none, or if it
    cannot be read or is not whole (empty, cut, edited): then generate it again."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    body, sep, digest = text.rpartition(_SOURCE_CHECK)
    if sep and digest.strip() == hashlib.sha256(body.encode()).hexdigest():
        return body
    logger.info("the kept source %s is damaged; generating it again", path)
    return None


def clear_cache(config: Config | None = None) -> int:
    """Delete every compiled kernel (and its ``.pyx``) from the cache directory.

    Only files and build directories that symrates created (names starting with
    ``_sr_kernel_`` or ``_sr_build_``, the kept generated sources ``_sr_source_`` and
    ``_sr_batch_``, and the compiled templates in ``_sr_templates``) are removed; other files
    in the directory are left
    alone, and so are builds in progress. Modules already loaded in running processes stay
    usable; the next run in this process loads or compiles afresh.

    Parameters
    ----------
    config : Config, optional
        Whose ``cache_dir`` to clear; default :meth:`Config.default` (``$SYMRATES_CACHE_DIR``
        or the user cache dir).

    Returns
    -------
    int
        The number of files and directories removed.

    Examples
    --------
    >>> import tempfile
    >>> from symrates.compile.cache import clear_cache
    >>> from symrates.config import Config
    >>> clear_cache(Config(cache_dir=tempfile.mkdtemp()))   # sr.clear_cache() clears the default
    0
    """
    from symrates.compile import build  # the in-process table of loaded modules

    directory = (config or Config.default()).cache_dir
    build.forget_loaded()
    if not directory.is_dir():
        return 0
    removed = 0
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith(BUILD_PREFIX) and entry.is_dir():
            # _sr_build_<module>_<random>: skip it while that module's build holds the lock
            module = name[len(BUILD_PREFIX):len(BUILD_PREFIX) + len(KERNEL_PREFIX) + NAME_DIGITS]
            if _locked(directory / f"{module}.lock"):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        elif name == TEMPLATES_DIR and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        elif name.startswith(SOURCE_PREFIXES) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
        elif name.startswith(KERNEL_PREFIX) and entry.is_file():
            if name.endswith(".lock") and _locked(entry):
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    logger.info("cleared %d kernel cache entries in %s", removed, directory)
    return removed


def _locked(path: Path) -> bool:
    """Whether another process (or open file) holds the lock on ``path`` right now."""
    if fcntl is None or not path.exists():  # pragma: no cover - Windows
        return False
    try:
        with open(path, "a+b") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False
