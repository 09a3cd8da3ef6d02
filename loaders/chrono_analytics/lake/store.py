"""Where a model's files live: the few file operations the lake protocol needs.

Every path a store takes is relative to the model's location and uses '/'. DuckDB reads and
writes the data files itself, through ``uri(relpath)``; the store lists, publishes and deletes.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class FileInfo:
    relpath: str
    size: int
    mtime: float


class Store(Protocol):
    """The operations of the lake protocol on one model's location."""

    location: str

    def uri(self, relpath: str) -> str:
        """The path or URL DuckDB reads and writes for `relpath`."""
        ...

    def list_files(self, prefix: str = "") -> list[FileInfo]:
        """Every file under `prefix` (recursively), in no particular order."""
        ...

    def read_text(self, relpath: str) -> str | None:
        """The file's text; None when it does not exist."""
        ...

    def put_new(self, relpath: str, text: str) -> bool:
        """Create `relpath` with `text`, atomically (readers see all of it or nothing) and only
        if it does not exist yet; False when it already exists."""
        ...

    def delete(self, relpath: str) -> None:
        """Delete a file (no error when it is already gone)."""
        ...

    def prepare(self, relpath: str) -> None:
        """Make `relpath` writable by DuckDB's COPY (its folders exist)."""
        ...

    def make_durable(self, relpath: str) -> int:
        """Flush a file DuckDB wrote to stable storage; its size in bytes."""
        ...


class LocalStore:
    """A model's lake in a folder of the local filesystem."""

    def __init__(self, location: str | Path) -> None:
        self.root = Path(os.path.abspath(str(location)))
        self.location = str(self.root)

    def uri(self, relpath: str) -> str:
        return str(self.root / relpath)

    def list_files(self, prefix: str = "") -> list[FileInfo]:
        top = self.root / prefix if prefix else self.root
        found: list[FileInfo] = []
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append(
                    FileInfo(path.relative_to(self.root).as_posix(), stat.st_size, stat.st_mtime)
                )
        return found

    def read_text(self, relpath: str) -> str | None:
        try:
            return (self.root / relpath).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def put_new(self, relpath: str, text: str) -> bool:
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}-{target.name}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, target)  # atomic and exclusive: fails when target exists
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return True

    def delete(self, relpath: str) -> None:
        path = self.root / relpath
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # empty partition folders go too (never the location itself)
        folder = path.parent
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def prepare(self, relpath: str) -> None:
        (self.root / relpath).parent.mkdir(parents=True, exist_ok=True)

    def make_durable(self, relpath: str) -> int:
        path = self.root / relpath
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        _fsync_dir(path.parent)
        return size


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_store(location: str | Path) -> Store:
    """The store of a model's location."""
    return LocalStore(location)
