"""The configuration of an ``incremental_parquet`` model, validated.

The materialization passes the model's raw config (dbt's ``config.get`` of each key below) and
this module either returns the resolved settings or raises a ``LakeError`` naming the model,
the setting, what was wrong and an example. Reference: macros/_macros.yml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chrono_analytics.lake.snapshot import Column, LakeError

DEFAULT_LOOKBACK_HOURS = 1.0
DEFAULT_RETENTION_SECONDS = 600.0
DEFAULT_HISTORY_SNAPSHOTS = 200
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0
# the most values one record_changes entry of a commit records (past it: left out)
DEFAULT_FEED_LIMIT = 50_000
# the most rows one data file holds: a partition with more is split into several files
# (consecutive ranges of its order_by order), and a run rewrites (and sorts) only the files
# holding its changes, so its memory stays bounded however large a partition grows
DEFAULT_MAX_FILE_ROWS = 250_000
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "lz4_raw", "brotli", "uncompressed")
# zstd's level when a model sets none: against DuckDB's own default (3), level 1 wrote the page
# marts' 25,000-row files 16% faster, 2.5% larger (content_analytics) or 1.9% smaller
# (cdx_records), and whole-file scans took the same time (bench/README.md, 2026-12-03)
DEFAULT_ZSTD_LEVEL = 1
# Partition values become folder names and are read back by every engine: integers, dates,
# booleans and short strings only.
PARTITION_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "DATE",
    "BOOLEAN",
    "VARCHAR",
)
_TYPE_ALIASES = {
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "INT8": "BIGINT",
    "INT2": "SMALLINT",
    "TEXT": "VARCHAR",
    "STRING": "VARCHAR",
    "BOOL": "BOOLEAN",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Recompute:
    """How an incremental run chooses the rows it rebuilds: the values of `columns` that the
    macro `values` returns (SQL; with several columns, structs with one field per column);
    every stored row holding one of them is replaced by the model's rows holding it (none:
    deleted). `inline` (one column only): the values are written into the model's filter as
    literals (so DuckDB pushes them into the PostgreSQL scan) instead of a semi-join.
    `upstream_columns` ({upstream model: its columns this model reads}): the values the
    macro takes from that model's change feed are those of rows inserted, deleted, or changed
    in one of these columns (or the feed entry's own); a model absent from it counts every
    changed row."""

    columns: tuple[str, ...]
    values: str
    inline: bool
    upstream_columns: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class RecordedChange:
    """One entry of record_changes: the values of `columns` (one column, or several recorded
    together as a struct) among a run's changed rows, old and new, and its deleted rows,
    kept in the snapshot under `key` (the column names joined by '+')."""

    columns: tuple[str, ...]

    @property
    def key(self) -> str:
        return "+".join(self.columns)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "columns": list(self.columns)}


@dataclass(frozen=True)
class ModelSettings:
    model: str
    location: str
    partition_by: tuple[Column, ...]
    unique_key: tuple[str, ...]
    order_by: tuple[str, ...]
    recompute: Recompute | None
    watermark: str | None
    record_changes: tuple[RecordedChange, ...]
    feed_limit: int
    max_file_rows: int
    lookback_seconds: int
    retention_seconds: float
    history_snapshots: int
    lock_timeout_seconds: float
    on_schema_change: str
    compression: str
    compression_level: int | None
    row_group_size: int | None

    @property
    def partition_names(self) -> list[str]:
        return [c.name for c in self.partition_by]

    def write_options(self) -> str:
        options = ["format parquet", f"compression {self.compression}"]
        if self.compression_level is not None:
            options.append(f"compression_level {self.compression_level}")
        if self.row_group_size is not None:
            options.append(f"row_group_size {self.row_group_size}")
        return ", ".join(options)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "location": self.location,
            "partition_by": [c.to_json() for c in self.partition_by],
            "partition_names": self.partition_names,
            "unique_key": list(self.unique_key),
            "order_by": list(self.order_by),
            "recompute": None
            if self.recompute is None
            else {
                "columns": list(self.recompute.columns),
                "values": self.recompute.values,
                "inline": self.recompute.inline,
                "upstream_columns": {
                    name: list(columns) for name, columns in self.recompute.upstream_columns.items()
                },
            },
            "watermark": self.watermark,
            "record_changes": [entry.to_json() for entry in self.record_changes],
            "feed_limit": self.feed_limit,
            "max_file_rows": self.max_file_rows,
            "lookback_seconds": self.lookback_seconds,
            "on_schema_change": self.on_schema_change,
            "write_options": self.write_options(),
        }


def _names(model: str, setting: str, raw: Any, example: str, required: bool) -> tuple[str, ...]:
    if raw is None or raw == [] or raw == "":
        if required:
            raise LakeError(f"incremental_parquet {model}: {setting} is required, e.g. {example}")
        return ()
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise LakeError(
            f"incremental_parquet {model}: {setting} must be a column name or a list of column "
            f"names, e.g. {example}; got {raw!r}"
        )
    for value in values:
        if not _IDENTIFIER.fullmatch(value):
            raise LakeError(f"incremental_parquet {model}: {setting} names {value!r}, not a column")
    return tuple(values)


def _number(model: str, setting: str, raw: Any, default: float, minimum: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise LakeError(f"incremental_parquet {model}: {setting} must be a number, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise LakeError(
            f"incremental_parquet {model}: {setting} must be a number, got {raw!r}"
        ) from None
    if not value >= minimum:  # also rejects NaN
        raise LakeError(f"incremental_parquet {model}: {setting} must be >= {minimum}, got {raw!r}")
    return value


def _count(model: str, setting: str, raw: Any, default: int, minimum: int) -> int:
    """A whole number of things (rows, values): finite and integral."""
    value = _number(model, setting, raw, default, minimum)
    if value != value // 1 or value == float("inf"):
        raise LakeError(
            f"incremental_parquet {model}: {setting} must be a whole number, got {raw!r}"
        )
    return int(value)


def _partition_by(model: str, raw: Any) -> tuple[Column, ...]:
    example = "partition_by=[{'name': 'processing_year', 'data_type': 'integer'}]"
    entries = [raw] if isinstance(raw, Mapping) else raw
    if not entries or isinstance(entries, str) or not isinstance(entries, list | tuple):
        raise LakeError(
            f"incremental_parquet {model}: partition_by must be a non-empty list of "
            f"{{'name': <column>, 'data_type': <type>}}, e.g. {example}"
        )
    columns = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not entry.get("name") or not entry.get("data_type"):
            raise LakeError(
                f"incremental_parquet {model}: partition_by entry {entry!r} needs a name and a "
                f"data_type, e.g. {example}"
            )
        if "expression" in entry:
            raise LakeError(
                f"incremental_parquet {model}: partition_by entry {entry['name']!r} has an "
                "expression; partition columns are columns of the model (select them)"
            )
        name = str(entry["name"])
        if not _IDENTIFIER.fullmatch(name):
            raise LakeError(f"incremental_parquet {model}: partition column {name!r} is not a name")
        data_type = " ".join(str(entry["data_type"]).upper().split())
        data_type = _TYPE_ALIASES.get(data_type, data_type)
        if data_type not in PARTITION_TYPES:
            raise LakeError(
                f"incremental_parquet {model}: partition column {name} has type {data_type}; "
                f"partition columns must be one of {', '.join(PARTITION_TYPES)}"
            )
        columns.append(Column(name, data_type))
    if len({c.name for c in columns}) != len(columns):
        raise LakeError(f"incremental_parquet {model}: partition_by names a column twice")
    return tuple(columns)


def _recompute(model: str, raw: Any) -> Recompute | None:
    if raw is None:
        return None
    example = "recompute={'column': 'scrape_page_id', 'values': 'page_ids_to_recompute'}"
    if not isinstance(raw, Mapping) or not raw.get("column") or not raw.get("values"):
        raise LakeError(
            f"incremental_parquet {model}: recompute must be {{'column': <column>, 'values': "
            f"<macro name>[, 'inline': true]}}, e.g. {example}; got {raw!r}"
        )
    columns = _names(model, "recompute.column", raw["column"], example, True)
    values = str(raw["values"])
    if not _IDENTIFIER.fullmatch(values):
        raise LakeError(f"incremental_parquet {model}: recompute.values must name a macro")
    inline = bool(raw.get("inline", False))
    if inline and len(columns) > 1:
        raise LakeError(
            f"incremental_parquet {model}: recompute.inline takes one column; "
            f"{', '.join(columns)} are recomputed through a semi-join"
        )
    if len(set(columns)) != len(columns):
        raise LakeError(f"incremental_parquet {model}: recompute.column names a column twice")
    return Recompute(
        columns=columns,
        values=values,
        inline=inline,
        upstream_columns=_upstream_columns(model, raw.get("upstream_columns")),
    )


def _upstream_columns(model: str, raw: Any) -> dict[str, tuple[str, ...]]:
    example = "upstream_columns={'content_analytics': ['processing_date', 'word_count']}"
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(name, str) and _IDENTIFIER.fullmatch(name) for name in raw
    ):
        raise LakeError(
            f"incremental_parquet {model}: recompute.upstream_columns must map each upstream "
            f"model to the columns of it this model reads, e.g. {example}; got {raw!r}"
        )
    return {
        name: _names(model, f"recompute.upstream_columns.{name}", columns, example, True)
        for name, columns in raw.items()
    }


def _record_changes(model: str, raw: Any) -> tuple[RecordedChange, ...]:
    example = "record_changes=['processing_date', ['domain', 'archive_date']]"
    entries = [] if raw is None or raw == "" else [raw] if isinstance(raw, str) else raw
    if not isinstance(entries, list | tuple):
        raise LakeError(
            f"incremental_parquet {model}: record_changes must be a list of column names or "
            f"lists of column names, e.g. {example}; got {raw!r}"
        )
    recorded = [
        RecordedChange(_names(model, "record_changes", entry, example, True)) for entry in entries
    ]
    if len({entry.key for entry in recorded}) != len(recorded):
        raise LakeError(f"incremental_parquet {model}: record_changes names an entry twice")
    return tuple(recorded)


def resolve(raw: Mapping[str, Any], model: str, external_root: str) -> ModelSettings:
    """Validate a model's config (`raw`: the keys of macros/_macros.yml) into settings."""
    location = str(raw.get("location") or f"{external_root.rstrip('/')}/{model}").rstrip("/")
    if not location or any(ch in location for ch in "*?["):
        raise LakeError(
            f"incremental_parquet {model}: location {location!r} must be a folder path "
            "without glob characters"
        )
    if "://" not in location:
        location = os.path.abspath(location)
    partition_by = _partition_by(model, raw.get("partition_by"))
    unique_key = _names(model, "unique_key", raw.get("unique_key"), "unique_key='record_id'", True)
    order_by = list(_names(model, "order_by", raw.get("order_by"), "order_by=['day']", False))
    order_by += [k for k in unique_key if k not in order_by]
    on_schema_change = str(raw.get("on_schema_change") or "fail")
    on_schema_change = "fail" if on_schema_change == "ignore" else on_schema_change
    if on_schema_change not in ("fail", "append_new_columns"):
        raise LakeError(
            f"incremental_parquet {model}: on_schema_change must be 'fail' or "
            f"'append_new_columns', got {on_schema_change!r}"
        )
    compression = str(raw.get("compression") or "zstd").lower()
    if compression not in COMPRESSIONS:
        raise LakeError(
            f"incremental_parquet {model}: unknown compression {compression!r} "
            f"(one of {', '.join(COMPRESSIONS)})"
        )
    level = raw.get("compression_level")
    row_group_size = raw.get("row_group_size")
    watermark = raw.get("watermark")
    if watermark is not None and not _IDENTIFIER.fullmatch(str(watermark)):
        raise LakeError(
            f"incremental_parquet {model}: watermark must name a macro returning the clock "
            f"query, got {watermark!r}"
        )
    lookback_hours = _number(model, "lookback", raw.get("lookback"), DEFAULT_LOOKBACK_HOURS, 0)
    return ModelSettings(
        model=model,
        location=location,
        partition_by=partition_by,
        unique_key=unique_key,
        order_by=tuple(order_by),
        recompute=_recompute(model, raw.get("recompute")),
        watermark=None if watermark is None else str(watermark),
        record_changes=_record_changes(model, raw.get("record_changes")),
        feed_limit=_count(model, "feed_limit", raw.get("feed_limit"), DEFAULT_FEED_LIMIT, 0),
        max_file_rows=_count(
            model, "max_file_rows", raw.get("max_file_rows"), DEFAULT_MAX_FILE_ROWS, 1
        ),
        lookback_seconds=round(lookback_hours * 3600),
        retention_seconds=_number(
            model, "retention_seconds", raw.get("retention_seconds"), DEFAULT_RETENTION_SECONDS, 0
        ),
        history_snapshots=int(
            _number(
                model,
                "history_snapshots",
                raw.get("history_snapshots"),
                DEFAULT_HISTORY_SNAPSHOTS,
                1,
            )
        ),
        lock_timeout_seconds=_number(
            model,
            "lock_timeout_seconds",
            raw.get("lock_timeout_seconds"),
            DEFAULT_LOCK_TIMEOUT_SECONDS,
            0,
        ),
        on_schema_change=on_schema_change,
        compression=compression,
        compression_level=(DEFAULT_ZSTD_LEVEL if compression == "zstd" else None)
        if level is None
        else int(_number(model, "compression_level", level, 0, -131072)),
        row_group_size=None
        if row_group_size is None
        else int(_number(model, "row_group_size", row_group_size, 0, 1)),
    )
