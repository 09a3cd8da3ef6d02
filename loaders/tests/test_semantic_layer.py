"""The semantic layer: `mf query` against a built warehouse gives the figures a direct SQL on the
marts gives.

`mf` reads the semantic manifest at <project>/target/semantic_manifest.json, a fixed path, while
the test workers keep their dbt artifacts in a folder of their own; so the test parses the
project in a temporary project folder (links to the project's files, a target/ of its own) and
runs `mf` there, against the built warehouse's DuckDB file through the project's profile.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from warehouse_helpers import PROJECT_ROOT, TARGET, Warehouse

MF = str(Path(sys.executable).parent / "mf")
# what the temporary project folder links to: the project's sources, not its artifacts
PROJECT_ENTRIES = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "package-lock.yml",
    "models",
    "macros",
    "seeds",
    "tests",
    "analyses",
    "packages",
    "dbt_packages",
)
# `mf` asks PyPI for a newer release on every call: a closed local port refuses it at once
NO_NETWORK = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
}


@pytest.fixture(scope="module")
def mf_project(built_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder whose target/ holds this project's semantic manifest."""
    folder = tmp_path_factory.mktemp("mf_project")
    for entry in PROJECT_ENTRIES:
        (folder / entry).symlink_to(PROJECT_ROOT / entry)
    # dbt's partial-parse state of the warehouse's build halves the parse (dbt re-parses what
    # changed, or everything when its environment differs)
    (folder / "target").mkdir()
    if (TARGET / "partial_parse.msgpack").exists():
        shutil.copy(TARGET / "partial_parse.msgpack", folder / "target")
    built_warehouse.dbt(
        "parse",
        "--quiet",
        project_dir=folder,
        extra_env={"DBT_TARGET_PATH": str(folder / "target")},
    )
    assert (folder / "target" / "semantic_manifest.json").exists()
    return folder


def mf_query(warehouse: Warehouse, project: Path, out: Path, *args: str) -> list[dict[str, str]]:
    """Run `mf query ARGS` in `project` against the warehouse; its rows (CSV, as text)."""
    env = {
        **warehouse.env(),
        **NO_NETWORK,
        "DBT_PROJECT_DIR": str(project),
        "DBT_PROFILES_DIR": str(project),
        "DBT_TARGET_PATH": str(project / "target"),
    }
    result = subprocess.run(
        [MF, "query", *args, "--csv", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0 and out.exists(), result.stdout[-4000:] + result.stderr[-4000:]
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def test_pages_processed_quality_and_error_rate_per_year(
    built_warehouse: Warehouse, mf_project: Path, tmp_path: Path
) -> None:
    rows = mf_query(
        built_warehouse,
        mf_project,
        tmp_path / "per_year.csv",
        "--metrics",
        "pages_processed,average_quality_score,error_rate",
        "--group-by",
        "metric_time__year",
    )
    got = {
        int(r["metric_time__year"][:4]): (
            int(r["pages_processed"]),
            float(r["average_quality_score"]),
            float(r["error_rate"]),
        )
        for r in rows
    }
    with built_warehouse.connect(attach_source=False) as conn:
        expected_rows = conn.execute(
            """
            select
                year(processing_date),
                count(*) filter (where extraction_status != 'pending'),
                avg(content_quality_score),
                count(*) filter (where extraction_status = 'failed')
                    / count(*) filter (where extraction_status != 'pending')
            from marts.content_analytics
            where processing_date is not null
            group by 1
            """
        ).fetchall()
    expected = {year: (pages, quality, rate) for year, pages, quality, rate in expected_rows}
    assert len(expected) >= 2  # the synthetic source spans several years
    assert got.keys() == expected.keys()
    for year, (pages, quality, rate) in expected.items():
        assert got[year][0] == pages, year
        assert got[year][1] == pytest.approx(quality, rel=1e-12), year
        assert got[year][2] == pytest.approx(rate, rel=1e-12), year
    # every page processed is counted once: the years add up to the mart's total
    with built_warehouse.connect(attach_source=False) as conn:
        total = conn.execute(
            "select count(*) from marts.content_analytics where extraction_status != 'pending'"
            " and processing_date is not null"
        ).fetchone()
    assert total == (sum(pages for pages, _, _ in got.values()),)


def test_sessions_and_cost_per_project_in_a_range(
    built_warehouse: Warehouse, mf_project: Path, tmp_path: Path
) -> None:
    with built_warehouse.connect(attach_source=False) as conn:
        (year,) = conn.execute(  # type: ignore[misc]
            "select min(year(processing_date)) + 1 from marts.content_analytics"
        ).fetchone()
        sessions = dict(
            conn.execute(
                f"""
                select project_id, count(distinct scrape_session_id)
                from marts.content_analytics
                where year(processing_date) = {int(year)}
                group by 1
                """
            ).fetchall()
        )
        costs = dict(
            conn.execute(
                f"""
                select project_id, sum(estimated_processing_cost_usd)
                from marts.project_analytics
                where aggregation_level = 'project' and analytics_year = {int(year)}
                group by 1
                """
            ).fetchall()
        )
        # what the seed called total_sessions: project-day rows, far more than sessions
        (project_days,) = conn.execute(  # type: ignore[misc]
            f"""
            select count(*) from marts.project_analytics
            where aggregation_level = 'project' and analytics_year = {int(year)}
            """
        ).fetchone()
    rows = mf_query(
        built_warehouse,
        mf_project,
        tmp_path / "per_project.csv",
        "--metrics",
        "scrape_sessions,processing_cost_usd",
        "--group-by",
        "project",
        "--where",
        f"{{{{ TimeDimension('metric_time', 'day') }}}} >= '{int(year)}-01-01'"
        f" and {{{{ TimeDimension('metric_time', 'day') }}}} <= '{int(year)}-12-31'",
    )
    got_sessions = {int(r["project"]): int(r["scrape_sessions"]) for r in rows}
    got_costs = {
        int(r["project"]): float(r["processing_cost_usd"]) if r["processing_cost_usd"] else None
        for r in rows
    }
    assert got_sessions == sessions
    assert got_costs.keys() == costs.keys()
    for project, cost in costs.items():
        if cost is None:
            assert got_costs[project] is None, project
        else:
            assert got_costs[project] == pytest.approx(cost, rel=1e-9), project
    assert any(cost for cost in costs.values())  # some projects have LangExtract enabled
    assert sum(sessions.values()) < project_days
