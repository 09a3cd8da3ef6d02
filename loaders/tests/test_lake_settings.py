"""Validation of an incremental_parquet model's recompute, record_changes and size settings."""

from __future__ import annotations

from typing import Any

import pytest

from chrono_analytics.lake.settings import resolve
from chrono_analytics.lake.snapshot import LakeError

BASE: dict[str, Any] = {
    "partition_by": [{"name": "archive_year", "data_type": "integer"}],
    "unique_key": ["domain", "archive_month_start"],
}


def settings(**config: Any) -> dict[str, Any]:
    return resolve({**BASE, **config}, "monthly", "/tmp/lake").to_json()


def test_a_recompute_on_several_columns_and_a_struct_feed_entry() -> None:
    resolved = settings(
        recompute={
            "column": ["domain", "archive_month_start"],
            "values": "groups",
            "upstream_columns": {"records": ["domain", "archive_date"], "contents": "words"},
        },
        record_changes=["domain", ["domain", "archive_date"]],
    )
    assert resolved["recompute"] == {
        "columns": ["domain", "archive_month_start"],
        "values": "groups",
        "inline": False,
        "upstream_columns": {"records": ["domain", "archive_date"], "contents": ["words"]},
    }
    assert resolved["record_changes"] == [
        {"key": "domain", "columns": ["domain"]},
        {"key": "domain+archive_date", "columns": ["domain", "archive_date"]},
    ]
    one = settings(recompute={"column": "domain", "values": "domains", "inline": True})
    assert one["recompute"]["columns"] == ["domain"] and one["recompute"]["inline"] is True
    # the change feed's limit: 50,000 values per entry unless the model or
    # CHRONO_LAKE_FEED_LIMIT (passed in as the model's default) says otherwise
    assert resolved["feed_limit"] == 50_000
    assert settings(feed_limit="0")["feed_limit"] == 0
    # the rows of a file: 250,000 unless the model or CHRONO_LAKE_MAX_FILE_ROWS says otherwise
    assert resolved["max_file_rows"] == 250_000
    assert settings(max_file_rows="1000")["max_file_rows"] == 1000


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"recompute": {"column": ["domain", "month"], "values": "v", "inline": True}},
            "recompute.inline takes one column; domain, month are recomputed through a semi-join",
        ),
        (
            {"recompute": {"column": ["domain", "domain"], "values": "v"}},
            "recompute.column names a column twice",
        ),
        ({"recompute": {"column": ["domain", "a b"], "values": "v"}}, "names 'a b', not a column"),
        (
            {"recompute": {"column": "day", "values": "v", "upstream_columns": ["pages"]}},
            "recompute.upstream_columns must map each upstream model to the columns of it",
        ),
        (
            {"recompute": {"column": "day", "values": "v", "upstream_columns": {"pages": []}}},
            "recompute.upstream_columns.pages is required",
        ),
        (
            {"recompute": {"column": "day", "values": "v", "upstream_columns": {"pages": [1]}}},
            "recompute.upstream_columns.pages must be a column name or a list of column names",
        ),
        ({"record_changes": ["domain", ["domain"]]}, "record_changes names an entry twice"),
        ({"record_changes": ["day", [1, 2]]}, "record_changes must be a column name or a list"),
        ({"record_changes": {"domain": 1}}, "record_changes must be a list of column names"),
        ({"feed_limit": "lots"}, "feed_limit must be a number, got 'lots'"),
        ({"feed_limit": -1}, "feed_limit must be >= 0, got -1"),
        ({"feed_limit": 2.5}, "feed_limit must be a whole number, got 2.5"),
        ({"max_file_rows": 0}, "max_file_rows must be >= 1, got 0"),
        ({"max_file_rows": "inf"}, "max_file_rows must be a whole number, got 'inf'"),
        ({"max_file_rows": "1e3x"}, "max_file_rows must be a number, got '1e3x'"),
    ],
)
def test_bad_recompute_or_record_changes_settings_are_named(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(LakeError, match="incremental_parquet monthly: ") as raised:
        settings(**config)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "format parquet, compression zstd, compression_level 1"),
        ({"compression_level": 3}, "format parquet, compression zstd, compression_level 3"),
        ({"compression": "SNAPPY"}, "format parquet, compression snappy"),
        (
            {"compression": "gzip", "compression_level": 9, "row_group_size": 20000},
            "format parquet, compression gzip, compression_level 9, row_group_size 20000",
        ),
    ],
)
def test_the_write_options_default_to_zstd_level_1(config: dict[str, Any], expected: str) -> None:
    resolved = resolve({**BASE, **config}, "monthly", "/tmp/lake")
    assert resolved.write_options() == expected
