"""A writer for test_lake_readers.py: dbt runs of the fixture's pages_by_year in one process
(dbtRunner, with the manifest parsed once), each after an UPDATE of two pages of two different
archive years (retry_count +1), every tenth a full refresh; each run commits one snapshot.
After each run it appends the committed snapshot's answer to the readers' query to a
JSON-lines file: {"mart": m, "version": v, "answer": [count, distinct, sum]}.

Usage: python lake_writer_loop.py <admin dsn> <lake root> <runs> <answers.jsonl> <target dir>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg2
from dbt.cli.main import dbtRunner

from chrono_analytics.lake.reader import Lake, view_sql
from chrono_analytics.lake.store import open_store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "incremental_project"
QUERY = "select count(*), count(distinct page_id), sum(retry_count) from pages"


MARTS = ("pages_by_year",)


def answer(lake: Lake, mart: str) -> tuple[int, list[int]]:
    snapshot = lake.snapshot(mart)
    assert snapshot is not None
    store = open_store(lake.location(mart))
    with lake.new_connection() as conn:
        conn.execute(
            "create view pages as "
            + view_sql([store.uri(f.path) for f in snapshot.files], snapshot.columns)
        )
        row = conn.execute(QUERY).fetchone()
    assert row is not None
    return snapshot.version, [int(v) for v in row]


def main() -> None:
    dsn, root, commits, answers, target = sys.argv[1:6]
    lake = Lake(root)
    base = [
        "run",
        "--select",
        *MARTS,
        "--project-dir",
        str(FIXTURE),
        "--profiles-dir",
        str(FIXTURE),
        "--target-path",
        target,
        "--quiet",
        "--no-write-json",  # the artifacts cost half of each run here
    ]
    parsed = dbtRunner().invoke(["parse", *base[3:]])
    runner = dbtRunner(manifest=parsed.result)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select min(id) filter (where unix_timestamp like '2010%'), "
            "min(id) filter (where unix_timestamp like '2015%') from scrape_pages"
        )
        first, second = cur.fetchone()
    with open(answers, "a", encoding="utf-8") as out:
        for step in range(int(commits)):
            full = step % 10 == 9
            if not full:
                with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                    cur.execute(
                        "update scrape_pages set retry_count = retry_count + 1, "
                        "updated_at = now() where id in (%s, %s)",
                        (first, second),
                    )
            result = runner.invoke(base + (["--full-refresh"] if full else []))
            if not result.success:
                raise SystemExit(f"dbt run failed at step {step}: {result.exception}")
            for mart in MARTS:
                version, values = answer(lake, mart)
                out.write(json.dumps({"mart": mart, "version": version, "answer": values}) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
