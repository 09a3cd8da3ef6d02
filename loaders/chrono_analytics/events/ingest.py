"""Ingest events from JSON Lines: one JSON object per line, the contract's columns as keys.

Every non-blank line read is either accepted (written through ``EventWriter``, so with the
same validation as the application) or rejected into a dead-letter file, never both and
never neither: ``read == accepted + rejected``. Blank lines are skipped and counted apart.
A bad line never stops the run and never costs the good lines around it. A UTF-8 byte
order mark at the start of a line (the first line of a file saved by a Windows tool, or
any line after ``cat a.jsonl b.jsonl``) is skipped: U+FEFF never begins a JSON text, so
skipping it changes no valid line (RFC 8259 allows a parser to ignore it).

Dead-letter file: JSON Lines, one object per rejected line with ``source`` (file name or
``<stdin>``), ``line_number`` (1-based), ``reason`` (``<field>: <problem>`` for contract
violations), ``rejected_at`` (UTC, ISO-8601) and ``line`` (the original text; invalid
UTF-8 bytes are shown as ``\\xNN`` escapes; a line longer than ``MAX_LINE_BYTES`` keeps its
first KiB and ``truncated: true``). It is created only when a line is rejected, by default
as ``<events_root>/_dead_letter/ingest-<utc>-<pid>.jsonl``.

Re-ingesting the same file is harmless: a line without ``event_id`` gets the
deterministic id of its content, so the second copy has the same ids as the first and
readers (and the compaction) keep one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from chrono_analytics.events.files import ensure_dir
from chrono_analytics.events.validation import EventValidationError
from chrono_analytics.events.writer import EventWriter

MAX_LINE_BYTES: Final = 1024 * 1024
UTF8_BOM: Final = b"\xef\xbb\xbf"
DEAD_LETTER_DIR: Final = "_dead_letter"
_KEPT_PREFIX: Final = 1024


class InputFileError(Exception):
    """An input file cannot be opened; ``path`` names it (never a file the ingest writes)."""

    def __init__(self, path: str, exc: OSError) -> None:
        self.path = path
        self.missing = isinstance(exc, FileNotFoundError)
        problem = "not found" if self.missing else (exc.strerror or str(exc))
        super().__init__(f"input file {path}: {problem}")


@dataclass
class IngestReport:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    files_written: int = 0
    dead_letter: Path | None = None

    def summary(self) -> str:
        blank = f" ({self.blank:,} blank lines skipped)" if self.blank else ""
        return (
            f"events ingest: read {self.read:,}, accepted {self.accepted:,}, "
            f"rejected {self.rejected:,}, files written {self.files_written:,}, "
            f"dead letter: {self.dead_letter if self.dead_letter else 'none'}{blank}"
        )


def default_dead_letter_path(root: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / DEAD_LETTER_DIR / f"ingest-{stamp}-{os.getpid()}.jsonl"


class DeadLetter:
    """The rejected lines, appended as they come; the file exists only if one is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: BinaryIO | None = None

    def write(
        self, source: str, line_number: int, line: bytes, reason: str, *, truncated: bool
    ) -> None:
        if self._handle is None:
            ensure_dir(self.path.parent)
            self._handle = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        record: dict[str, object] = {
            "source": source,
            "line_number": line_number,
            "reason": reason,
            "rejected_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "line": line.decode("utf-8", "backslashreplace"),
        }
        if truncated:
            record["truncated"] = True
        self._handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None


def iter_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int, bool]]:
    """(line, bytes consumed, too_long) for each line; a line over ``limit`` bytes yields
    its first KiB only, so no more than ``limit`` bytes of one line are ever in memory."""
    while True:
        chunk = stream.readline(limit + 1)
        if not chunk:
            return
        if len(chunk) <= limit or chunk.endswith(b"\n"):
            yield chunk, len(chunk), False
            continue
        consumed = len(chunk)
        prefix = chunk[:_KEPT_PREFIX]
        while not chunk.endswith(b"\n"):
            rest = stream.readline(limit)
            if not rest:
                break
            consumed += len(rest)
            chunk = rest
        yield prefix, consumed, True


def _reason_for(text: bytes) -> tuple[str | None, dict[str, object] | None]:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte {exc.start + 1} of the line)", None
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} (column {exc.colno})", None
    except RecursionError:
        return "invalid JSON: nested too deeply", None
    if not isinstance(value, dict):
        return f"expected a JSON object, got a JSON {type(value).__name__}", None
    return None, value


def ingest_streams(
    sources: Sequence[tuple[str, BinaryIO]],
    writer: EventWriter,
    dead_letter: DeadLetter,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Feed every line of every source to ``writer``; rejects go to ``dead_letter``.

    The caller closes the writer (and the dead letter) afterwards; ``files_written`` and
    ``dead_letter`` of the report are filled in by ``run_ingest``.
    """
    report = IngestReport()
    pending_bytes = 0
    for name, stream in sources:
        for number, (raw, consumed, too_long) in enumerate(iter_lines(stream), start=1):
            pending_bytes += consumed
            if on_progress is not None and pending_bytes >= 1 << 20:
                on_progress(pending_bytes)
                pending_bytes = 0
            if too_long:
                report.read += 1
                report.rejected += 1
                dead_letter.write(
                    name,
                    number,
                    raw,
                    f"line is {consumed:,} bytes, over the {MAX_LINE_BYTES:,}-byte limit",
                    truncated=True,
                )
                continue
            text = raw.strip()
            if text.startswith(UTF8_BOM):
                text = text[len(UTF8_BOM) :].strip()
            if not text:
                report.blank += 1
                continue
            report.read += 1
            reason, record = _reason_for(text)
            if record is not None:
                try:
                    writer.capture_record(record)
                except EventValidationError as exc:
                    reason = str(exc)
                if writer.last_flush_error is not None:  # stop early: the disk is the problem
                    raise writer.last_flush_error
            if reason is not None:
                report.rejected += 1
                dead_letter.write(name, number, raw.rstrip(b"\r\n"), reason, truncated=False)
                continue
            report.accepted += 1
    if on_progress is not None and pending_bytes:
        on_progress(pending_bytes)
    return report


def run_ingest(
    inputs: Sequence[str],
    root: Path,
    *,
    dead_letter_path: Path | None = None,
    source_component: str | None = None,
    environment: str | None = None,
    buffer_events: int = 50_000,
    on_progress: Callable[[int], None] | None = None,
    stdin: BinaryIO | None = None,
) -> IngestReport:
    """Ingest JSONL files (``-`` or no input: ``stdin``) into ``root``.

    Accepted events are flushed and closed before returning, also when the run is
    interrupted (then the exception propagates after the flush). An input that cannot be
    opened raises ``InputFileError`` before anything is written; any other ``OSError`` is
    about writing under ``root``.
    """
    sources: list[tuple[str, BinaryIO]] = []
    try:
        for item in list(inputs) or ["-"]:
            if item == "-":
                sources.append(("<stdin>", stdin if stdin is not None else _stdin()))
                continue
            try:
                sources.append((item, open(item, "rb")))  # noqa: SIM115 - closed below
            except OSError as exc:
                raise InputFileError(item, exc) from None
        dead_letter = DeadLetter(dead_letter_path or default_dead_letter_path(root))
        writer = EventWriter(
            root,
            max_buffer_events=buffer_events,
            flush_interval_s=None,
            source_component=source_component,
            environment=environment,
            spool=False,  # the input file is the spool: re-running gives the same event ids
            flush_at_exit=False,
        )
        try:
            report = ingest_streams(sources, writer, dead_letter, on_progress=on_progress)
        finally:
            dead_letter.close()
            writer.close()
    finally:
        for name, handle in sources:
            if name != "<stdin>":
                handle.close()
    report.files_written = writer.files_written
    report.dead_letter = dead_letter.path if dead_letter.count else None
    return report


def _stdin() -> BinaryIO:
    import sys

    return sys.stdin.buffer


def input_size(inputs: Sequence[str]) -> int | None:
    """Total bytes of the inputs, or None when unknown (stdin, or an input that cannot be
    read: ``run_ingest`` reports that one)."""
    paths = list(inputs) or ["-"]
    if "-" in paths:
        return None
    try:
        return sum(os.stat(p).st_size for p in paths)
    except OSError:
        return None
