"""Where event files live under an events root, and how a reader reads them.

Hive layout ``<root>/event_date=YYYY-MM-DD/event_hour=H/<file>.parquet`` with the hour
**not** zero-padded (``event_hour=7``), the form DuckDB's own ``PARTITION_BY`` writes and one
that DuckDB's type detection reads as an integer (``07`` would stay a string). The partition
columns are **not stored inside the files** (as with DuckDB's default
``COPY ... PARTITION_BY``): the folder names are their only source, so a file can never
contradict its folder. Only the validated ``event_timestamp`` decides a folder name.

Besides the partition folders, a root holds ``_spool/`` (the writers' crash spools,
``spool.py``), ``_inflight/`` (files being written, ``files.py``), ``_dead_letter/`` (lines
``events ingest`` rejected) and ``_compaction.lock``. None of them matches ``EVENTS_GLOB``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

from chrono_analytics.events.schema import EPOCH, US_PER_HOUR, to_micros

# The glob a reader uses: exact depth and suffix, so no other file under the root matches it.
EVENTS_GLOB: Final = "event_date=*/event_hour=*/*.parquet"

_DATE_DIR_RE = re.compile(r"event_date=(\d{4}-\d{2}-\d{2})")
_HOUR_DIR_RE = re.compile(r"event_hour=(0|[1-9]|1\d|2[0-3])")


def partition_dir(root: Path, hour_index: int) -> Path:
    """``root/event_date=YYYY-MM-DD/event_hour=H`` of an hour index (hours since the Unix
    epoch, UTC)."""
    moment = EPOCH + timedelta(hours=hour_index)
    return root / f"event_date={moment.date().isoformat()}" / f"event_hour={moment.hour}"


def parse_partition_dir(root: Path, folder: Path) -> int | None:
    """The hour index of a partition folder, or None when it is not one of ours."""
    try:
        rel = folder.relative_to(root).parts
    except ValueError:
        return None
    if len(rel) != 2:
        return None
    day_match = _DATE_DIR_RE.fullmatch(rel[0])
    hour_match = _HOUR_DIR_RE.fullmatch(rel[1])
    if day_match is None or hour_match is None:
        return None
    try:
        day = date.fromisoformat(day_match.group(1))
    except ValueError:
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return to_micros(start) // US_PER_HOUR + int(hour_match.group(1))


def read_sql(root: str | os.PathLike[str]) -> str:
    """A DuckDB table expression over every event file under ``root``."""
    pattern = (Path(root) / EVENTS_GLOB).as_posix().replace("'", "''")
    return (
        f"read_parquet('{pattern}', hive_partitioning = true, "
        "hive_types = {'event_date': 'DATE', 'event_hour': 'INTEGER'}, union_by_name = true)"
    )
