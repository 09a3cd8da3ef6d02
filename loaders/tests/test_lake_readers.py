"""Readers never lock, never fail and never see a mixture while runs commit.

Reader threads (the project's read helper, pyarrow and polars over the snapshot's file list)
and a reader process (DuckDB through a new connection per query) query the fixture's
pages_by_year in a loop while another process commits 60 snapshots of it with dbt:
incremental runs after an UPDATE of two pages in two partitions (so every such commit adds
exactly 2 to sum(retry_count)), and every tenth a full refresh (every file replaced). Every
answer must be the answer of one committed snapshot: a reader mixing two snapshots' files
would see an odd step of the sum, or a page twice. Superseded files are vacuumed after 5
seconds meanwhile.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from chrono_analytics.lake.reader import Lake
from chrono_analytics.lake.snapshot import Snapshot
from warehouse_helpers import PROJECT_ROOT, Warehouse, admin_dsn

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "incremental_project"
RUNS = 60  # one commit each (6 of them full refreshes)
RETENTION_SECONDS = 5  # superseded files stay this long for readers (a query takes < 1 s)
MARTS = ("pages_by_year",)
QUERY = "select count(*), count(distinct page_id), sum(retry_count) from {mart}"
PARTITIONS = {
    "pages_by_year": pa.schema([("archive_year", pa.int32())]),
    "pages_by_month": pa.schema([("archive_year", pa.int32()), ("archive_month", pa.int32())]),
}

READER_PROCESS = f"""
import json, sys, time
from pathlib import Path
from chrono_analytics.lake.reader import Lake
root, out, stop = sys.argv[1:4]
lake = Lake(root)
step = 0
with open(out, "w") as handle:
    while not Path(stop).exists():
        time.sleep(0.15)
        mart = {MARTS!r}[step % len({MARTS!r})]
        step += 1
        try:
            with lake.connect() as conn:
                row = conn.execute({QUERY!r}.format(mart=mart)).fetchone()
            handle.write(json.dumps({{"mart": mart, "answer": list(row)}}) + "\\n")
        except Exception as exc:
            handle.write(json.dumps({{"error": repr(exc)}}) + "\\n")
"""


def pyarrow_answer(lake: Lake, mart: str) -> list[int]:
    files = lake.files(mart)
    dataset = ds.dataset(
        files,
        format="parquet",
        partitioning=ds.partitioning(PARTITIONS[mart], flavor="hive"),
        partition_base_dir=lake.location(mart),
    )
    table = dataset.to_table(columns=["page_id", "retry_count"])
    ids = table.column("page_id")
    return [
        table.num_rows,
        len(pc.unique(ids)),
        int(pc.sum(table.column("retry_count")).as_py() or 0),
    ]


def polars_answer(lake: Lake, mart: str) -> list[int]:
    frame = pl.scan_parquet(lake.files(mart), hive_partitioning=False).select(
        pl.len(), pl.col("page_id").n_unique(), pl.col("retry_count").sum()
    )
    return [int(v) for v in frame.collect().row(0)]


def helper_answer(lake: Lake, mart: str) -> list[int]:
    row = lake.query(QUERY.format(mart=mart))[0]
    return [int(v) for v in row]


def test_readers_see_one_committed_snapshot_each_while_runs_commit(
    make_source_db: Callable[..., str], tmp_path: Path
) -> None:
    dsn = make_source_db(pages=800, seed=43)
    warehouse = Warehouse(dsn, tmp_path / "chrono.duckdb", tmp_path / "lake")
    target = tmp_path / "target"
    warehouse.dbt("run", "--select", *MARTS, "--target-path", str(target), project_dir=FIXTURE)
    env = {**warehouse.env(), "CHRONO_LAKE_RETENTION_SECONDS": str(RETENTION_SECONDS)}
    answers = tmp_path / "committed.jsonl"
    initial = {mart: helper_answer(Lake(warehouse.lake_root), mart) for mart in MARTS}
    # the read entry point caches Parquet footers across queries (Lake.new_connection), so
    # the helper and process readers below read through that cache while files are
    # committed and vacuumed
    assert Lake(warehouse.lake_root).query("select current_setting('parquet_metadata_cache')") == [
        (True,)
    ]
    stop = tmp_path / "stop"

    observed: dict[str, list[tuple[str, list[int]]]] = {"helper": [], "pyarrow": [], "polars": []}
    failures: list[str] = []

    def read_loop(name: str, read: Callable[[Lake, str], list[int]]) -> None:
        own = Lake(warehouse.lake_root)
        step = 0
        while not stop.exists():
            time.sleep(0.15)  # a reader's pace, not a busy loop: the writer needs the CPU too
            mart = MARTS[step % len(MARTS)]
            step += 1
            try:
                observed[name].append((mart, read(own, mart)))
            except Exception as exc:
                failures.append(f"{name}: {exc!r}")

    threads = [
        threading.Thread(target=read_loop, args=(name, read), daemon=True)
        for name, read in (
            ("helper", helper_answer),
            ("pyarrow", pyarrow_answer),
            ("polars", polars_answer),
        )
    ]
    process_out = tmp_path / "process.jsonl"
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READER_PROCESS,
            str(warehouse.lake_root),
            str(process_out),
            str(stop),
        ],
        env=env,
    )
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        writer = subprocess.run(
            [
                sys.executable,
                str(HERE / "lake_writer_loop.py"),
                admin_dsn(dsn),
                str(warehouse.lake_root),
                str(RUNS),
                str(answers),
                str(target),
            ],
            env={**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        stop.touch()
        for thread in threads:
            thread.join(timeout=60)
        reader.wait(timeout=60)
    seconds = time.monotonic() - started
    assert writer.returncode == 0, writer.stdout[-3000:] + writer.stderr[-3000:]

    committed = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(committed) == RUNS * len(MARTS) >= 60
    valid: dict[str, set[tuple[int, ...]]] = {}
    for mart in MARTS:
        versions = [c["version"] for c in committed if c["mart"] == mart]
        assert len(versions) == RUNS and versions == sorted(set(versions)), mart
        # the state before the loop's first commit is a committed snapshot too
        valid[mart] = {tuple(initial[mart])} | {
            tuple(c["answer"]) for c in committed if c["mart"] == mart
        }

    process_rows: list[dict[str, Any]] = [
        json.loads(line) for line in process_out.read_text().splitlines() if line.strip()
    ]
    failures += [row["error"] for row in process_rows if "error" in row]
    observed["process"] = [(row["mart"], row["answer"]) for row in process_rows if "answer" in row]
    assert failures == [], failures[:5]
    for name, answers_seen in observed.items():
        assert len(answers_seen) >= 20, (name, len(answers_seen), seconds)
        for mart, answer in answers_seen:
            assert answer[0] == answer[1], (name, mart, answer)  # no page twice
            assert tuple(answer) in valid[mart], (name, mart, answer)  # one committed snapshot
    # superseded files were vacuumed meanwhile. Each commit vacuums: it keeps the files of the
    # snapshots current less than the retention time before it, and deletes the rest. So after
    # the last commit exactly those files may remain, whatever the machine's speed; the files of
    # snapshots superseded longer ago must be gone.
    location = warehouse.lake_root / "pages_by_year"
    present = {
        p.relative_to(location).as_posix()
        for p in location.rglob("*.parquet")
        if "_chrono" not in p.parts
    }
    snapshots = sorted(
        (
            Snapshot.from_json(p.read_text(), str(p))
            for p in (location / "_chrono" / "snapshots").glob("*.json")
        ),
        key=lambda snap: snap.version,
    )
    assert len(snapshots) == RUNS + 1  # the loop's commits and the one before it, all kept
    last_commit = snapshots[-1].committed_at
    kept: set[str] = set(snapshots[-1].file_paths())
    gone: set[str] = set()
    for snap, successor in itertools.pairwise(snapshots):
        superseded_for = (last_commit - successor.committed_at).total_seconds()
        (kept if superseded_for < RETENTION_SECONDS + 1 else gone).update(snap.file_paths())
    gone -= kept
    assert present <= kept, sorted(present - kept)[:5]
    assert gone, (
        "the loop ran too briefly to supersede a snapshot for the retention time",
        seconds,
    )
    assert not present & gone, sorted(present & gone)[:5]
