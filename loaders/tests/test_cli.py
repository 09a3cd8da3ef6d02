"""The CLI and the embedded server: clear one-line errors, idempotent start, real data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import yaml

from chrono_analytics import reader_role, source_db
from chrono_analytics.config import (
    DEFAULT_PG_DATABASE,
    DEFAULT_PG_PORT,
    READER_ROLE,
    embedded_admin_dsn,
    embedded_dsn,
)
from chrono_analytics.pgserver import EmbeddedServer, free_port
from chrono_analytics.source_attach import SOURCE_ALIAS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PROFILES = Path(__file__).resolve().parent / "fixtures/incremental_project/profiles.yml"
CLI = str(Path(sys.executable).parent / "chrono-analytics")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONO_")}
    full_env.update(env)
    return subprocess.run(
        [CLI, *args], cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=300
    )


def test_wrong_dsn_fails_with_one_clear_line() -> None:
    port = free_port()  # nothing listens there
    result = run_cli("db", "status", CHRONO_PG_DSN=f"host=127.0.0.1 port={port} user=x dbname=y")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL")
    assert "CHRONO_PG_DSN" in lines[0]
    assert "Traceback" not in result.stderr


def test_seed_rejects_a_non_positive_page_count(shared_source_dsn: str) -> None:
    result = run_cli("db", "seed", "--pages", "0", CHRONO_PG_DSN=shared_source_dsn)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --pages must be at least 1, got 0"


def test_embedded_server_refuses_a_port_taken_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_cli("db", "up", CHRONO_HOME=str(tmp_path), CHRONO_PG_PORT=str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken by another program" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_up_twice_reuses_the_running_server(tmp_path: Path) -> None:
    env = {"CHRONO_HOME": str(tmp_path), "CHRONO_PG_PORT": str(free_port())}
    try:
        first = run_cli("db", "up", **env)
        assert first.returncode == 0, first.stderr
        second = run_cli("db", "up", **env)
        assert second.returncode == 0, second.stderr
        assert (
            first.stdout.split("pid ")[1].split(")")[0]
            == (second.stdout.split("pid ")[1].split(")")[0])
        )
        status = run_cli("db", "status", **env)
        assert "running" in status.stdout
        assert "no Chrono Scraper tables" in status.stderr
    finally:
        down = run_cli("db", "down", **env)
        assert down.returncode == 0
    assert "stopped" in run_cli("db", "status", **env).stdout


def test_synthetic_data_is_deterministic_and_covers_the_ugly_cases(
    pg_server: EmbeddedServer,
) -> None:
    def fingerprint(dsn: str) -> tuple[object, ...]:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("select md5(string_agg(t::text, ',' order by id)) from scrape_pages as t")
            row = cur.fetchone()
        assert row is not None
        return tuple(row)

    dsns = []
    for name in ("chrono_det_a", "chrono_det_b"):
        pg_server.ensure_database(name)
        dsn = embedded_admin_dsn(pg_server.port, name)
        reader_role.setup_embedded_reader(dsn, READER_ROLE, name)
        source_db.seed(dsn, source_db.SyntheticShape(pages=3000, seed=7))
        dsns.append(dsn)
    assert fingerprint(dsns[0]) == fingerprint(dsns[1])

    checks = {
        "port": r"original_url ~ '^[A-Za-z]+://[^/]*:[0-9]+'",
        "user info": r"original_url ~ '^[A-Za-z]+://[^/@]*@'",
        "upper-case host": r"original_url ~ '^[A-Za-z]+://[^/]*[A-Z]'",
        "trailing dot": r"original_url ~ '^[A-Za-z]+://[^/:]*\.(/|$|:)'",
        "unicode IDN": "original_url like '%bücher%'",
        "punycode IDN": "original_url like '%xn--%'",
        "multi-part suffix": "original_url like '%.co.uk%'",
        "no path": r"original_url ~ '^[A-Za-z]+://[^/]+$'",
        "query with dots and slashes": r"original_url ~ '\?[^#]*\.[^#]*/'",
        "fragment": "original_url like '%#%'",
        "malformed timestamp": r"unix_timestamp !~ '^[0-9]{14}$'",
        "null timestamp": "unix_timestamp is null",
        "zero length": "content_length = 0",
        "null length": "content_length is null",
        "late update": "updated_at > created_at",
        "mime parameters": "mime_type like '%;%'",
        "mime upper case": "mime_type <> lower(mime_type)",
    }
    with psycopg2.connect(dsns[0]) as conn, conn.cursor() as cur:
        for label, condition in checks.items():
            cur.execute(f"select count(*) from scrape_pages where {condition}")
            row = cur.fetchone()
            assert row is not None and row[0] > 0, label
        cur.execute("select count(distinct status) from scrape_pages")
        assert cur.fetchone() == (17,)


def test_the_profiles_attach_the_source_only_through_the_plugin() -> None:
    """No DSN in a profile: dbt prints an `attach:` path, password included, on any failure.
    The plugin attaches the source (source_attach.py) from the settings' DSN, whose embedded
    default is the read-only role."""
    for path, name in (
        (PROJECT_ROOT / "profiles.yml", "chrono_analytics"),
        (FIXTURE_PROFILES, "incremental_fixture"),
    ):
        output = yaml.safe_load(path.read_text())[name]["outputs"]["dev"]
        assert "attach" not in output, path
        (plugin,) = output["plugins"]
        assert plugin["module"] == "chrono_analytics.dbt_plugin"
        assert plugin["config"] == {"source_alias": SOURCE_ALIAS}, path
    assert embedded_dsn(DEFAULT_PG_PORT) == (
        f"host=127.0.0.1 port={DEFAULT_PG_PORT} dbname={DEFAULT_PG_DATABASE} user=chrono_reader"
    )
    assert embedded_admin_dsn(DEFAULT_PG_PORT) == (
        f"host=127.0.0.1 port={DEFAULT_PG_PORT} dbname={DEFAULT_PG_DATABASE} user=postgres"
    )


@pytest.mark.parametrize("bad_port", ["abc", "55x"])
def test_a_non_numeric_port_is_a_clear_error(bad_port: str) -> None:
    result = run_cli("db", "status", CHRONO_PG_PORT=bad_port)
    assert result.returncode != 0
    assert f"CHRONO_PG_PORT='{bad_port}' is not an integer" in result.stderr
    assert "Traceback" not in result.stderr
