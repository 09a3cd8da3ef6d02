"""Other engines read every mart as it is: pyarrow, polars and DuckDB's own read_parquet, from
the current snapshot's file list (what `chrono-analytics lake files <mart>` prints), get the
mart's rows and its contract's columns and types, partition columns included."""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from chrono_analytics.lake.reader import Lake
from warehouse_helpers import Warehouse

# Arrow has no JSON type: DuckDB stores a JSON column as a string Parquet column that DuckDB
# reads back as JSON; any other reader sees the string.
AS_OTHER_ENGINES_SEE_IT = {"JSON": "VARCHAR"}
# The partition columns' types (lake/settings.py PARTITION_TYPES) as Arrow types.
ARROW_TYPES = {
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
}


def arrow_types_as_duckdb(table: pa.Table) -> dict[str, str]:
    with duckdb.connect() as conn:
        conn.register("t", table)
        return {row[0]: row[1] for row in conn.execute("describe t").fetchall()}


@pytest.fixture(scope="module")
def lake(built_warehouse: Warehouse) -> Lake:
    return Lake(built_warehouse.lake_root)


MARTS = [
    "cdx_records",
    "content_analytics",
    "project_analytics",
    "events",
    "content_quality_daily",
    "domain_archive_monthly",
    "system_performance_hourly",
    "project_performance_daily",
    "project_activity_daily",
    "domain_archive_summary",
    "performance_daily",
    "project_members",
]


@pytest.mark.parametrize("mart", MARTS)
def test_pyarrow_polars_and_duckdb_read_the_mart_with_its_types(lake: Lake, mart: str) -> None:
    snapshot = lake.snapshot(mart)
    assert snapshot is not None, mart
    files = lake.files(mart)
    expected = {c.name: AS_OTHER_ENGINES_SEE_IT.get(c.type, c.type) for c in snapshot.columns}
    names = [c.name for c in snapshot.columns]
    if mart != "events":  # the demo's events are not loaded by the shared warehouse
        assert snapshot.rows > 0 and files, mart

    # pyarrow, hive partitioning from the folder names with the partition columns' types
    partition_schema = pa.schema([(c.name, ARROW_TYPES[c.type]) for c in snapshot.partition_by])
    dataset = ds.dataset(
        files,
        format="parquet",
        partitioning=ds.partitioning(partition_schema, flavor="hive"),
        partition_base_dir=lake.location(mart),
    )
    table = dataset.to_table()
    assert table.num_rows == snapshot.rows
    assert sorted(table.column_names) == sorted(names)
    assert arrow_types_as_duckdb(table.select(names)) == expected, "pyarrow"

    # polars: the files carry the partition columns
    frame = pl.scan_parquet(files, hive_partitioning=False).collect() if files else None
    if frame is not None:
        assert frame.height == snapshot.rows and frame.columns == names
        assert arrow_types_as_duckdb(frame.to_arrow()) == expected, "polars"

    # DuckDB's read_parquet with hive partitioning and the partition columns' types
    if files:
        hive_types = ", ".join(f"'{c.name}': {c.type}" for c in snapshot.partition_by)
        listed = ", ".join(f"'{f}'" for f in files)
        with duckdb.connect() as conn:
            relation = conn.sql(
                f"select {', '.join(names)} from read_parquet([{listed}], "
                f"hive_partitioning = true, hive_types = {{{hive_types}}}, union_by_name = true)"
            )
            types = {name: str(t) for name, t in zip(relation.columns, relation.types, strict=True)}
            assert relation.count("*").fetchone() == (snapshot.rows,)
        assert types == {c.name: c.type for c in snapshot.columns}, "duckdb"
