"""Other engines read every mart as it is: pyarrow, polars and DuckDB's own read_parquet, from
the current snapshot's file list (what `chrono-analytics lake files <mart>` prints), get the
mart's rows and its contract's columns and types, partition columns included."""

from __future__ import annotations

import math
from decimal import Decimal

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from chrono_analytics.lake.reader import Lake
from warehouse_helpers import MARTS, Warehouse

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


# -- Spark -------------------------------------------------------------------------------------

# What Spark makes of each DuckDB type in the Parquet files (Spark has no unsigned integers, no
# JSON type, and reads a Parquet timestamp that is not adjusted to UTC as TIMESTAMP_NTZ).
SPARK_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "UTINYINT": "smallint",
    "USMALLINT": "int",
    "UINTEGER": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "JSON": "string",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP": "timestamp_ntz",
}
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def spark_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.lower().replace(" ", "")
    if duckdb_type.endswith("[]"):
        return f"array<{spark_type(duckdb_type[:-2])}>"
    return SPARK_TYPES[duckdb_type]


def _figures_sql(columns: list[tuple[str, str]], epoch: str) -> str:
    """One row of figures over a mart: count(*), then per column its non-NULL count, and
    its sum (integers, decimals, doubles) or its min and max (dates and timestamps, as
    microseconds since the epoch); `epoch` is the engine's expression for that."""
    parts = ["count(*)"]
    for name, kind in columns:
        quoted = f"`{name}`" if epoch.startswith("unix") else f'"{name}"'
        parts.append(f"count({quoted})")
        if kind in (*NUMERIC, "DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
            parts.append(f"sum({quoted})")
        elif kind == "DATE":
            parts.append(f"min({quoted}), max({quoted})")
        elif kind.startswith("TIMESTAMP"):
            parts.append(f"min({epoch.format(quoted)}), max({epoch.format(quoted)})")
    return ", ".join(parts)


def _same(left: tuple[object, ...], right: tuple[object, ...]) -> bool:
    """Equal figures; sums of doubles to 1e-9 relative (the engines add in other orders),
    decimals by value (their sums' scales differ)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        if isinstance(a, float) or isinstance(b, float):
            if not (isinstance(a, int | float) and isinstance(b, int | float)):
                return False
            if not math.isclose(a, b, rel_tol=1e-9):
                return False
        elif isinstance(a, Decimal) or isinstance(b, Decimal):
            if a is None or b is None or Decimal(str(a)) != Decimal(str(b)):
                return False
        elif a != b:
            return False
    return True


def test_spark_reads_every_mart_like_duckdb(lake: Lake) -> None:
    """pyspark in local[2] reads each mart from the current snapshot's file list (never the
    folder: superseded files may still sit beside the live ones) and gets DuckDB's row count,
    per-column sums, non-NULL counts, min and max, and the same column types."""
    import time

    from pyspark.sql import SparkSession

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("chrono-lake-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "512m")
        .config("spark.ui.showConsoleProgress", "false")
        # list the files on the driver: a file list of more than 32 paths otherwise starts a
        # Spark job just to list them
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    timings = {"session start": time.perf_counter() - started}
    try:
        for mart in MARTS:
            snapshot = lake.snapshot(mart)
            assert snapshot is not None, mart
            files = lake.files(mart)
            columns = [(c.name, c.type) for c in snapshot.columns]
            if not files:  # the shared warehouse has no demo events: nothing to read
                continue
            begun = time.perf_counter()
            # recursiveFileLookup: no partition discovery from the folder names (the
            # partition columns are inside the files, with the mart's types)
            frame = spark.read.option("recursiveFileLookup", "true").parquet(*files)
            frame.createOrReplaceTempView("mart")
            spark_row = spark.sql(
                f"select {_figures_sql(columns, 'unix_micros(cast({} as timestamp))')} from mart"
            ).collect()[0]
            timings[mart] = time.perf_counter() - begun
            types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
            assert types == {name: spark_type(kind) for name, kind in columns}, mart
            with lake.connect() as conn:
                duck_row = conn.execute(
                    f"select {_figures_sql(columns, 'epoch_us({})')} from {mart}"
                ).fetchone()
            assert duck_row is not None
            assert _same(tuple(spark_row), duck_row), (mart, tuple(spark_row), duck_row)
            assert spark_row[0] == snapshot.rows > 0, mart
    finally:
        spark.stop()
    print("spark read seconds:", {k: round(v, 2) for k, v in timings.items()})
