"""The CLI, its configuration and the embedded server: one-line errors, one resolution of each
setting, idempotent start, real data."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from chrono_analytics import config, reader_role, source_db
from chrono_analytics.cli import CliParser, _HelpFormatter, build_parser
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
        source_db.seed(dsn, source_db.SyntheticShape(pages=3000, seed=42))
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
        # vacuumed as autovacuum would: every page all-visible, so the incremental runs count
        # pages per day from the created_at index alone (the test server commits
        # asynchronously, which left the map empty)
        cur.execute("select relpages, relallvisible from pg_class where relname = 'scrape_pages'")
        pages, all_visible = cur.fetchone() or (0, 0)
        assert pages > 0 and all_visible == pages, (pages, all_visible)
        for label, condition in checks.items():
            cur.execute(f"select count(*) from scrape_pages where {condition}")
            row = cur.fetchone()
            assert row is not None and row[0] > 0, label
        cur.execute("select count(distinct status) from scrape_pages")
        assert cur.fetchone() == (17,)
        # the timeline: nothing after the generation, a capture before its processing, a
        # session's pages inside its window, updates spread out (not stacked on the minute
        # of the generation, which a clamp to it once did: every run's lookback re-read them)
        timeline = {
            "after the generation": "greatest(created_at, updated_at) > now()",
            "captured after processed": "unix_timestamp ~ '^(19|20)[0-9]{2}(0[1-9]|1[0-2])"
            "(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]$' and unix_timestamp "
            "> to_char(created_at at time zone 'UTC', 'YYYYMMDDHH24MISS')",
            "updated before created": "updated_at < created_at",
            "outside its session's window": "exists (select from scrape_sessions as s where "
            "s.id = scrape_pages.scrape_session_id and (scrape_pages.created_at < s.started_at "
            "or scrape_pages.created_at > coalesce(s.completed_at, now())))",
        }
        for label, condition in timeline.items():
            cur.execute(f"select count(*) from scrape_pages where {condition}")
            assert cur.fetchone() == (0,), label
        cur.execute(
            "select max(n) from (select count(*) as n from scrape_pages "
            "group by date_trunc('minute', updated_at)) as per_minute"
        )
        assert cur.fetchone()[0] <= 3  # type: ignore[index]


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
    output = yaml.safe_load((PROJECT_ROOT / "profiles.yml").read_text())["chrono_analytics"]
    output = output["outputs"]["dev"]
    assert (
        output["path"] == f"{{{{ env_var('CHRONO_DUCKDB_PATH', '{config.DEFAULT_DUCKDB_PATH}') }}}}"
    )
    assert output["external_root"] == (
        f"{{{{ env_var('CHRONO_LAKE_ROOT', '{config.DEFAULT_LAKE_ROOT}') }}}}"
    )
    assert output["settings"]["memory_limit"] == (
        f"{{{{ env_var('CHRONO_DUCKDB_MEMORY_LIMIT', '{config.DEFAULT_DUCKDB_MEMORY_LIMIT}') }}}}"
    )
    events_source = (PROJECT_ROOT / "models/staging/events/_events__sources.yml").read_text()
    assert (
        "(env_var('CHRONO_EVENTS_ROOT', '') or ((env_var('CHRONO_LAKE_ROOT', '') or "
        f"'{config.DEFAULT_LAKE_ROOT}') ~ '/{config.EVENTS_UNDER_LAKE.as_posix()}'))"
    ) in events_source


@pytest.mark.parametrize("name", ["main.duckdb", "temp.duckdb", "system.v2.duckdb"])
def test_a_warehouse_file_duckdb_would_rename_is_a_clear_error(name: str, tmp_path: Path) -> None:
    """DuckDB calls the database of main.duckdb main_db; dbt-duckdb looks for main and failed
    every statement with 'Catalog "main" does not exist!'. Refused by the settings, which the
    CLI and the dbt plugin (on every connection) load."""
    path = str(tmp_path / name)
    stem = name.split(".")[0]
    expected = (
        f"CHRONO_DUCKDB_PATH='{path}': DuckDB calls the database in a file named {stem}.* "
        f"'{stem}_db', and dbt-duckdb then finds no catalog '{stem}'"
    )
    result = run_cli("db", "status", CHRONO_DUCKDB_PATH=path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert "Traceback" not in result.stderr
    if name != "main.duckdb":
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONO_")}
    env.update(CHRONO_DUCKDB_PATH=path, CHRONO_LAKE_ROOT=str(tmp_path / "lake"))
    seed = ["seed", "--select", "mime_content_categories"]
    paths = ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    dbt = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *seed, *paths],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert dbt.returncode != 0
    assert expected in dbt.stdout, dbt.stdout[-2000:]
    assert "Traceback" not in dbt.stdout + dbt.stderr
    assert 'Catalog "main" does not exist' not in dbt.stdout


@pytest.mark.parametrize("bad_port", ["abc", "55x"])
def test_a_non_numeric_port_is_a_clear_error(bad_port: str) -> None:
    result = run_cli("db", "status", CHRONO_PG_PORT=bad_port)
    assert result.returncode != 0
    assert f"CHRONO_PG_PORT='{bad_port}' is not an integer" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------
# The command line: --version, help, one-line usage errors with suggestions
# ---------------------------------------------------------------------------------------


def test_version_is_the_installed_package_version() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"chrono-analytics {pyproject['project']['version']}\n"


USAGE_ERRORS = [
    (
        ["db", "statsu"],
        "error: unknown command 'db statsu'; did you mean 'db status'? "
        "(see chrono-analytics db --help)",
    ),
    (["dbb"], "error: unknown command 'dbb'; did you mean 'db'? (see chrono-analytics --help)"),
    (
        ["events", "injest"],
        "error: unknown command 'events injest'; did you mean 'events ingest'? "
        "(see chrono-analytics events --help)",
    ),
    (
        ["frobnicate"],
        "error: unknown command 'frobnicate'; choose from setup, db, demo, events, lake, sync, "
        "backfill, serve (see chrono-analytics --help)",
    ),
    (
        [],
        "error: missing command; choose one of setup, db, demo, events, lake, sync, backfill, "
        "serve (see chrono-analytics --help)",
    ),
    (
        ["db"],
        "error: missing command after 'db'; choose one of up, down, status, seed "
        "(see chrono-analytics db --help)",
    ),
    (
        ["events"],
        "error: missing command after 'events'; choose one of ingest, compact, schema "
        "(see chrono-analytics events --help)",
    ),
    (
        ["db", "seed", "--pagse", "3"],
        "error: unknown option '--pagse' for 'db seed'; did you mean '--pages'? "
        "(see chrono-analytics db seed --help)",
    ),
    (
        ["demo", "--reseeed=1"],
        "error: unknown option '--reseeed' for 'demo'; did you mean '--reseed'? "
        "(see chrono-analytics demo --help)",
    ),
    (["--bogus"], "error: unknown option '--bogus' (see chrono-analytics --help)"),
    (
        ["db", "up", "now"],
        "error: unexpected argument 'now' for 'db up' (see chrono-analytics db up --help)",
    ),
    (
        ["db", "seed", "--pages", "3x"],
        "error: --pages: invalid int value: '3x' (see chrono-analytics db seed --help)",
    ),
    (
        ["serve", "--backend", "pg"],
        "error: invalid value 'pg' for --backend; choose from lake, postgres "
        "(see chrono-analytics serve --help)",
    ),
    (
        ["events", "compact", "--grace-minutes"],
        "error: --grace-minutes: expected one argument "
        "(see chrono-analytics events compact --help)",
    ),
]


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every command's parser under it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _parsers(child)


def internal_names() -> set[str]:
    """Names a user never types: dests of positionals and subcommands, keys of set_defaults."""
    names: set[str] = set()
    for parser in _parsers(build_parser()):
        names |= set(parser._defaults)
        names |= {a.dest for a in parser._actions if not a.option_strings}
    return names - {argparse.SUPPRESS}


def test_internal_names_are_found() -> None:
    assert {"handler", "inputs"} <= internal_names()


@pytest.mark.parametrize(
    ("argv", "expected"), USAGE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_usage_errors_are_one_line_with_what_to_type(argv: list[str], expected: str) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == expected + "\n"
    assert not internal_names() & set(re.findall(r"\w+", result.stderr))


def test_every_command_and_option_has_help_and_a_default() -> None:
    parsers = list(_parsers(build_parser()))
    assert [p.prog for p in parsers] == [
        "chrono-analytics",
        "chrono-analytics setup",
        "chrono-analytics db",
        "chrono-analytics db up",
        "chrono-analytics db down",
        "chrono-analytics db status",
        "chrono-analytics db seed",
        "chrono-analytics demo",
        "chrono-analytics events",
        "chrono-analytics events ingest",
        "chrono-analytics events compact",
        "chrono-analytics events schema",
        "chrono-analytics lake",
        "chrono-analytics lake status",
        "chrono-analytics lake files",
        "chrono-analytics lake query",
        "chrono-analytics lake vacuum",
        "chrono-analytics sync",
        "chrono-analytics sync status",
        "chrono-analytics backfill",
        "chrono-analytics serve",
    ]
    options = 0
    for parser in parsers:
        assert parser.description, parser.prog
        formatter = _HelpFormatter(parser.prog)
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):  # each command's line
                assert all(choice.help for choice in action._get_subactions()), parser.prog
                continue
            assert action.help, (parser.prog, action.option_strings or action.metavar)
            if action.option_strings:
                options += 1
                shown = formatter._get_help_string(action) or ""
                assert "(default" in shown or "(required)" in shown, (
                    parser.prog,
                    action.option_strings,
                    shown,
                )
    assert options >= 13  # every option counted above has its help and default


@pytest.mark.parametrize(
    ("argv", "expected_lines"),
    [
        (
            ["--help"],
            ["  --version   print the version", "    db        the embedded source PostgreSQL"],
        ),
        (
            ["db", "seed", "--help"],
            [
                "(re)create the schema with synthetic data",
                "  --pages N   scrape_pages rows to generate (default: 100000)",
                "  --seed N    random seed; the same seed, the same data (default: 42)",
            ],
        ),
        (
            ["demo", "--help"],
            ["  --reseed    regenerate the data even if it is already there (default: off)"],
        ),
        (
            ["events", "ingest", "--help"],
            ["  --buffer-events N     events per flush (default: 50000)"],
        ),
    ],
)
def test_help_shows_commands_options_and_defaults(
    argv: list[str], expected_lines: list[str]
) -> None:
    result = run_cli(*argv, COLUMNS="100")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in expected_lines:
        assert line in lines, result.stdout


def test_a_command_added_later_gets_the_same_behaviour(capsys: pytest.CaptureFixture[str]) -> None:
    """What the team's future commands (lake, sync, ...) get with no code of their own."""
    parser = CliParser(prog="chrono-analytics")
    commands = parser.add_subparsers()
    lake = commands.add_parser("lake", help="the Parquet lake")
    lake_commands = lake.add_subparsers()
    vacuum = lake_commands.add_parser("vacuum", help="remove retired files")
    vacuum.add_argument("--older-than-hours", type=int, default=24, help="age of a retired file")
    vacuum.add_argument("--format", choices=["text", "json"], default="text", help="output")
    vacuum.set_defaults(handler="vacuum")

    def fails(*argv: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(argv)
        assert exit_info.value.code == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        return captured.err

    assert fails("lake", "vacum") == (
        "error: unknown command 'lake vacum'; did you mean 'lake vacuum'? "
        "(see chrono-analytics lake --help)\n"
    )
    assert fails("lake", "vacuum", "--older-than-hour=3x") == (
        "error: --older-than-hours: invalid int value: '3x' "
        "(see chrono-analytics lake vacuum --help)\n"
    )
    assert fails("lake", "vacuum", "--format", "jsno") == (
        "error: invalid value 'jsno' for --format; did you mean 'json'? "
        "(see chrono-analytics lake vacuum --help)\n"
    )
    assert fails("lake", "vacuum", "--format", "xml") == (
        "error: invalid value 'xml' for --format; choose from text, json "
        "(see chrono-analytics lake vacuum --help)\n"
    )
    assert fails("lake", "vacuum", "--dry") == (
        "error: unknown option '--dry' for 'lake vacuum' "
        "(see chrono-analytics lake vacuum --help)\n"
    )
    missing = parser.parse_args(["lake"])
    with pytest.raises(SystemExit):
        missing.handler(missing)
    assert capsys.readouterr().err == (
        "error: missing command after 'lake'; choose one of vacuum "
        "(see chrono-analytics lake --help)\n"
    )
    assert parser.parse_args(["lake", "vacuum"]).handler == "vacuum"
    assert vacuum.description == "remove retired files"
    help_text = vacuum.format_help()
    assert "age of a retired file (default: 24)" in help_text
    assert "output (default: text)" in help_text


# ---------------------------------------------------------------------------------------
# Configuration: every variable listed, one resolution of each path
# ---------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\bCHRONO_[A-Z0-9_]*[A-Z0-9]\b")
_SCANNED = ("loaders", "bench", "models", "macros", "tests", "tools", "seeds", "packages", ".ci")
_SCANNED_FILES = ("profiles.yml", "dbt_project.yml", "Makefile", "pyproject.toml", "packages.yml")
_SKIPPED_DIRS = {"__pycache__", ".pytest_cache", "dbt_packages", "target", "logs", "lake"}
_TEXT_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".md", ".sh", ".toml", ".cfg", ".jinja", ""}


def variables_in_source(root: Path) -> dict[str, set[str]]:
    """Every CHRONO_* name in the project's code and configuration, with the files naming it."""
    files = [root / name for name in _SCANNED_FILES if (root / name).is_file()]
    for top in _SCANNED:
        for folder, subfolders, names in os.walk(root / top):
            subfolders[:] = [d for d in subfolders if d not in _SKIPPED_DIRS]
            files += [Path(folder, n) for n in names if Path(n).suffix in _TEXT_SUFFIXES]
    found: dict[str, set[str]] = {}
    for path in files:
        if path.resolve() == Path(config.__file__).resolve():
            continue
        for name in _VARIABLE.findall(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(root)))
    return found


def documented_in_config() -> list[str]:
    assert config.__doc__ is not None
    return re.findall(r"^(CHRONO_[A-Z0-9_]+) ", config.__doc__, flags=re.MULTILINE)


def documented_in_readme() -> dict[str, str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return dict(re.findall(r"^\| `(CHRONO_[A-Z0-9_]+)` \| ([^|]*?) \|", readme, flags=re.MULTILINE))


def test_every_variable_the_project_reads_is_documented() -> None:
    in_source = variables_in_source(PROJECT_ROOT)
    listed = documented_in_config()
    assert len(listed) == len(set(listed))
    assert set(in_source) - set(listed) == set(), "read but not listed in config.py"
    assert set(listed) - set(in_source) == set(), "listed in config.py but read nowhere"
    readme = documented_in_readme()
    assert list(readme) == listed, "the README's table lists the same variables, in order"
    assert readme["CHRONO_PG_PORT"] == f"`{DEFAULT_PG_PORT}`"
    assert readme["CHRONO_PG_DATABASE"] == f"`{DEFAULT_PG_DATABASE}`"
    assert readme["CHRONO_HOME"] == f"`{config.DEFAULT_HOME}`"
    assert readme["CHRONO_LAKE_ROOT"] == f"`{config.DEFAULT_LAKE_ROOT}`"
    assert readme["CHRONO_DUCKDB_PATH"] == f"`{config.DEFAULT_DUCKDB_PATH}`"
    assert readme["CHRONO_DUCKDB_MEMORY_LIMIT"] == f"`{config.DEFAULT_DUCKDB_MEMORY_LIMIT}`"
    assert readme["CHRONO_EVENTS_ROOT"] == "`$CHRONO_LAKE_ROOT/raw/events`"


def test_the_variable_scan_finds_a_variable_nobody_listed(tmp_path: Path) -> None:
    planted = "CHRONO_" + "PLANTED_SETTING"  # split so that this file does not name it
    (tmp_path / "loaders" / "pkg").mkdir(parents=True)
    (tmp_path / "loaders" / "pkg" / "job.py").write_text(f'os.environ.get("{planted}")\n')
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "m.sql").write_text("{{ env_var('CHRONO_LAKE_ROOT', 'lake') }}\n")
    (tmp_path / "profiles.yml").write_text("path: \"{{ env_var('CHRONO_DUCKDB_PATH') }}\"\n")
    (tmp_path / "loaders" / "__pycache__").mkdir()
    (tmp_path / "loaders" / "__pycache__" / "x.py").write_text(planted + "_IN_A_CACHE\n")
    found = variables_in_source(tmp_path)
    assert found == {
        planted: {"loaders/pkg/job.py"},
        "CHRONO_LAKE_ROOT": {"macros/m.sql"},
        "CHRONO_DUCKDB_PATH": {"profiles.yml"},
    }
    assert set(found) - set(documented_in_config()) == {planted}


@pytest.fixture
def project_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dbt project under tmp_path/project, the cwd one of its subfolders, no CHRONO_* set."""
    project = tmp_path / "project"
    (project / "models" / "marts").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: x\n")
    monkeypatch.chdir(project / "models" / "marts")
    for name in list(os.environ):
        if name.startswith("CHRONO_"):
            monkeypatch.delenv(name)
    return project


def test_paths_default_to_the_project_root_from_any_folder(project_subfolder: Path) -> None:
    project = project_subfolder.resolve()
    settings = config.load_settings()
    assert settings.home == project / ".chrono"
    assert settings.pgdata == project / ".chrono" / "pgdata"
    assert settings.lake_root == project / "lake"
    assert settings.duckdb_path == project / "chrono_analytics.duckdb"
    assert settings.events_root == project / "lake" / "raw" / "events"
    assert settings.pg_dsn == "host=127.0.0.1 port=55432 dbname=chrono_scraper user=chrono_reader"


def test_relative_paths_are_under_the_project_root_as_for_dbt(
    project_subfolder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = project_subfolder.resolve()
    monkeypatch.setenv("CHRONO_LAKE_ROOT", "data/lake")
    monkeypatch.setenv("CHRONO_DUCKDB_PATH", "../warehouse.duckdb")
    monkeypatch.setenv("CHRONO_HOME", "")  # empty: the default
    settings = config.load_settings()
    assert settings.lake_root == project / "data" / "lake"
    assert settings.events_root == project / "data" / "lake" / "raw" / "events"
    assert settings.duckdb_path == project.parent / "warehouse.duckdb"
    assert settings.home == project / ".chrono"
    monkeypatch.setenv("CHRONO_EVENTS_ROOT", "incoming/events")
    assert config.events_root() == project / "incoming" / "events"
    monkeypatch.setenv("CHRONO_EVENTS_ROOT", "/srv/events")
    assert config.events_root() == Path("/srv/events")


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("", False), ("0", False), ("1", True), ("yes", True)]
)
def test_verbose(value: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("CHRONO_VERBOSE", raising=False)
    else:
        monkeypatch.setenv("CHRONO_VERBOSE", value)
    assert config.verbose() is expected
