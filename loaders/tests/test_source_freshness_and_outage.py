"""The source as dbt sees it: freshness passes on freshly generated data, and with the source
PostgreSQL down a command that reads it says so in one line (which server, how to start it),
while the reporting models build from the lake and the docs site is generated."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chrono_analytics.config import READER_ROLE
from chrono_analytics.pgserver import free_port
from warehouse_helpers import Warehouse


def test_source_freshness_passes_on_freshly_generated_data(built_warehouse: Warehouse) -> None:
    """The synthetic source and the events are anchored at the time they are generated."""
    result = built_warehouse.dbt("source", "freshness")
    checked = [line for line in result.stdout.splitlines() if "freshness of" in line]
    passed = [line.split("freshness of ")[1].split()[0] for line in checked if " PASS " in line]
    assert sorted(passed) == ["chrono.scrape_pages", "events.events"], result.stdout[-3000:]


def run_with_source_down(
    warehouse: Warehouse, port: int, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """dbt with the embedded default (CHRONO_PG_DSN empty counts as unset) on a port where
    nothing listens."""
    return warehouse.dbt(
        *args,
        check=False,
        extra_env={
            "CHRONO_PG_DSN": "",
            "CHRONO_PG_PORT": str(port),
            "CHRONO_HOME": str(tmp_path / "home"),
        },
    )


@pytest.mark.parametrize(
    "command",
    [("build", "--select", "marts"), ("source", "freshness"), ("test", "--select", "staging")],
)
def test_with_the_source_down_a_command_that_reads_it_says_so_in_one_line(
    built_warehouse: Warehouse, tmp_path: Path, command: tuple[str, ...]
) -> None:
    port = free_port()
    result = run_with_source_down(built_warehouse, port, tmp_path, *command)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    lines = [line.strip() for line in output.splitlines() if f"127.0.0.1:{port}" in line]
    assert lines == [
        f"cannot read the source PostgreSQL at 127.0.0.1:{port}/chrono_scraper as "
        f"{READER_ROLE} (Connection refused): start the embedded server with "
        "'chrono-analytics db up'"
    ], output[-3000:]
    assert "Traceback" not in output
    assert len(result.stdout.splitlines()) < 15, result.stdout


def test_with_the_source_down_reporting_builds_from_the_lake_and_docs_generate(
    built_warehouse: Warehouse, tmp_path: Path
) -> None:
    port = free_port()
    with built_warehouse.connect(attach_source=False) as conn:
        before = conn.execute("select count(*) from reporting.content_quality_daily").fetchone()
    result = run_with_source_down(
        built_warehouse, port, tmp_path, "build", "--selector", "reporting"
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout and f"127.0.0.1:{port}" not in result.stdout
    with built_warehouse.connect(attach_source=False) as conn:
        after = conn.execute("select count(*) from reporting.content_quality_daily").fetchone()
    assert after == before and before != (0,)

    target = tmp_path / "docs"
    result = run_with_source_down(
        built_warehouse, port, tmp_path, "docs", "generate", "--target-path", str(target)
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # one warning says why the source tables have no column types in the catalog
    [warning] = [line for line in result.stdout.splitlines() if f"127.0.0.1:{port}" in line]
    assert warning.endswith(
        "start the embedded server with 'chrono-analytics db up'; going on without it (the "
        "docs show the source tables without their database column types)"
    ), warning
    catalog = json.loads((target / "catalog.json").read_text())
    assert catalog["sources"] == {}
    assert "model.chrono_analytics.cdx_records" in catalog["nodes"]
    assert (target / "index.html").is_file()
    assert os.path.getsize(target / "manifest.json") > 0
