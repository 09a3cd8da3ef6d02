"""The warehouse reads the source as a role that can only read, and no password reaches any
output.

The role's privileges and the attacks through dbt run on the session's test server (trust
authentication). The password tests run on a server of this module's own, which asks the
warehouse's role for a password (scram-sha-256 on 127.0.0.1) and which one test stops in the
middle of a dbt run. dbt runs a small probe project (written to a temporary folder) with the
project's real profiles.yml, whose plugin attaches the source.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import yaml

from chrono_analytics import reader_role, source_db
from chrono_analytics.config import READER_ROLE, embedded_admin_dsn
from chrono_analytics.pgserver import EmbeddedServer, free_port
from warehouse_helpers import DBT, PROJECT_ROOT, admin_dsn

# The columns that stay in PostgreSQL (secrets and personal data), per table
SECRET_COLUMNS = {
    "users": (
        "email",
        "full_name",
        "hashed_password",
        "email_verification_token",
        "mfa_secret",
        "mfa_backup_codes",
        "mfa_enabled",
    ),
    "projects": ("index_search_key", "index_search_key_uid"),
}

# Statements a dbt user could send through postgres_execute, and how PostgreSQL refuses each.
# The first is the attack as reported; the others first switch the transaction back to read
# write, so that only the role's privileges stand in the way.
ATTACKS = {
    "delete": (
        "commit; delete from scrape_pages where id = 62",
        "cannot execute DELETE in a read-only transaction",
    ),
    "delete_read_write": (
        "commit; begin transaction read write; delete from scrape_pages where id = 62; commit",
        "permission denied for table scrape_pages",
    ),
    "settings_off": (
        "commit; set default_transaction_read_only = off; commit; "
        "delete from scrape_pages where id = 62",
        "permission denied for table scrape_pages",
    ),
    "create_table": (
        "commit; set transaction read write; create table evil (x integer)",
        "permission denied for schema public",
    ),
    "temp_table": (
        "commit; begin transaction read write; create temporary table evil (x integer)",
        "permission denied to create temporary tables",
    ),
    "large_object": (
        "commit; begin transaction read write; select lo_create(0)",
        "permission denied for function lo_create",
    ),
}

PASSWORD = "Pw-7c1e-correct-horse"
WRONG_PASSWORD = "Pw-0b9d-wrong-battery"
PASSWORD_DATABASE = "chrono_pw"

STOP_MODEL = """\
import os
from pathlib import Path

from chrono_analytics.pgserver import EmbeddedServer


def model(dbt, session):
    dbt.config(materialized="table")
    pgdata = Path(os.environ["PROBE_STOP_PGDATA"])
    EmbeddedServer(pgdata, int(os.environ["PROBE_STOP_PORT"])).down()
    return session.sql("select 1 as stopped")
"""


# -- the probe project --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt project of a few models that uses the project's profile (chrono_analytics)."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "models").mkdir()
    (folder / "dbt_project.yml").write_text(
        "name: source_probe\nversion: '0.1.0'\nconfig-version: 2\nprofile: chrono_analytics\n"
        "model-paths: ['models']\nflags:\n  send_anonymous_usage_stats: false\n"
    )
    models = folder / "models"
    read = "select count(*) as pages from chrono_pg.public.scrape_pages\n"
    (models / "reads_source.sql").write_text(read)
    for name, (statement, _) in ATTACKS.items():
        (models / f"attack_{name}.sql").write_text(
            f"{{{{ config(pre_hook=\"call postgres_execute('chrono_pg', '{statement}')\") }}}}\n"
            "select 1 as attempted\n"
        )
    (models / "stops_the_source.py").write_text(STOP_MODEL)
    (models / "reads_after_stop.sql").write_text(
        "-- depends_on: {{ ref('stops_the_source') }}\n" + read
    )
    return folder


@dataclass(frozen=True)
class Run:
    result: subprocess.CompletedProcess[str]
    folder: Path

    @property
    def stdout_lines(self) -> list[str]:
        return self.result.stdout.splitlines()

    def places_holding(self, secret: str) -> list[str]:
        """Where `secret` occurs: stdout, stderr, a file under logs/ or target/, the DuckDB
        file (and its WAL)."""
        found = [
            name
            for name, text in (("stdout", self.result.stdout), ("stderr", self.result.stderr))
            if secret in text
        ]
        files = [p for p in self.folder.rglob("*") if p.is_file()]
        assert any(p.name == "dbt.log" for p in files), "dbt wrote no log"
        assert any(p.suffix == ".duckdb" for p in files), "dbt created no DuckDB file"
        found += [str(p) for p in files if secret.encode() in p.read_bytes()]
        return found


def run_probe(project: Path, folder: Path, *args: str, dsn: str | None, **env: str) -> Run:
    """dbt in the probe project with the root profiles.yml; logs, target and the DuckDB file
    under `folder`; CHRONO_PG_DSN is `dsn` (None: the embedded default)."""
    folder.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CHRONO_", "PG"))}
    full_env.update(
        CHRONO_DUCKDB_PATH=str(folder / "probe.duckdb"),
        CHRONO_LAKE_ROOT=str(folder / "lake"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        **env,
    )
    if dsn is not None:
        full_env["CHRONO_PG_DSN"] = dsn
    result = subprocess.run(
        [
            DBT,
            *args,
            "--profiles-dir",
            str(PROJECT_ROOT),
            "--log-path",
            str(folder / "logs"),
            "--target-path",
            str(folder / "target"),
        ],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return Run(result, folder)


def admin_query(dsn: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg2.connect(admin_dsn(dsn)) as conn, conn.cursor() as cur:
        cur.execute(statement)
        return list(cur.fetchall())


# -- the role's privileges ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_dsn(make_source_db: Callable[..., str]) -> str:
    """A source of this module's own (the attacks try to change it)."""
    return make_source_db(pages=500, seed=3)


def column_privileges(dsn: str, table: str) -> set[str]:
    """The columns (system columns included) the warehouse's role may select from `table`."""
    rows = admin_query(
        dsn,
        f"select attname from pg_attribute where attrelid = '{table}'::regclass "
        f"and not attisdropped and has_column_privilege('{READER_ROLE}', "
        f"'{table}'::regclass, attnum, 'SELECT')",
    )
    return {str(row[0]) for row in rows}


def test_the_role_selects_the_allowlisted_columns_of_the_source_tables_and_nothing_else(
    source_dsn: str,
) -> None:
    sources = yaml.safe_load((PROJECT_ROOT / "models" / "sources.yml").read_text())
    (chrono,) = [source for source in sources["sources"] if source["name"] == "chrono"]
    assert sorted(table["name"] for table in chrono["tables"]) == sorted(reader_role.READER_COLUMNS)
    # db seed recreates the tables (and drops their grants): the grants must follow
    source_db.seed(admin_dsn(source_dsn), source_db.SyntheticShape(pages=500, seed=3))
    for table, columns in reader_role.READER_COLUMNS.items():
        assert column_privileges(source_dsn, table) == {"ctid", *columns}, table
        for column in SECRET_COLUMNS.get(table, ()):
            assert column not in columns
            assert admin_query(source_dsn, f"select count({column}) from {table}")[0][0] > 0
    (role,) = admin_query(
        source_dsn,
        "select rolsuper, rolcreaterole, rolcreatedb, rolinherit, rolreplication, "
        "rolbypassrls, rolcanlogin, rolconfig, "
        "(select array_agg(g.rolname) from pg_auth_members as m join pg_roles as g "
        " on g.oid = m.roleid where m.member = r.oid), "
        "(select count(*) from pg_class where relowner = r.oid), "
        "has_schema_privilege(r.oid, 'public', 'CREATE'), "
        "has_database_privilege(r.oid, current_database(), 'CREATE'), "
        "has_database_privilege(r.oid, current_database(), 'TEMPORARY'), "
        "has_function_privilege(r.oid, 'lo_create(oid)', 'EXECUTE'), "
        "(select count(*) from pg_class as c where c.relnamespace = 'public'::regnamespace "
        " and has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')) "
        f"from pg_roles as r where rolname = '{READER_ROLE}'",
    )
    assert role == (
        False,
        False,
        False,
        False,
        False,
        False,
        True,
        ["default_transaction_read_only=on"],
        ["pg_read_all_stats"],  # reads statistics: when other sessions' transactions began
        0,
        False,
        False,
        False,
        False,
        0,
    )


def test_the_role_cannot_select_a_secret_column(source_dsn: str) -> None:
    with psycopg2.connect(source_dsn) as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(approval_status) from users")
        assert cur.fetchone() == (40, 40)
    for table, columns in SECRET_COLUMNS.items():
        for column in columns:
            conn = psycopg2.connect(source_dsn)
            try:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
                    cur.execute(f"select {column} from {table} limit 1")
            finally:
                conn.close()


def test_turning_its_own_settings_off_does_not_let_the_role_write(source_dsn: str) -> None:
    """PostgreSQL lets a role change its own session defaults: its privileges still hold, and
    setting the role up again (db up, make_source_db) puts the default back."""
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set default_transaction_read_only = off")
            cur.execute(f"alter role {READER_ROLE} set default_transaction_read_only = off")
    finally:
        conn.close()
    try:
        conn = psycopg2.connect(source_dsn)
        try:
            with conn.cursor() as cur:
                cur.execute("show default_transaction_read_only")
                assert cur.fetchone() == ("off",)
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute("update scrape_pages set status = 'failed' where id = 62")
        finally:
            conn.close()
    finally:
        database = str(admin_query(source_dsn, "select current_database()")[0][0])
        reader_role.setup_embedded_reader(admin_dsn(source_dsn), READER_ROLE, database)
    (config,) = admin_query(
        source_dsn, f"select rolconfig from pg_roles where rolname = '{READER_ROLE}'"
    )
    assert config == (["default_transaction_read_only=on"],)


def attack_left_no_trace(dsn: str) -> None:
    assert admin_query(dsn, "select count(*) from scrape_pages where id = 62") == [(1,)]
    assert admin_query(dsn, "select to_regclass('public.evil')") == [(None,)]
    assert admin_query(dsn, "select count(*) from pg_largeobject_metadata") == [(0,)]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_postgres_execute_through_dbt_run_operation_is_refused(
    attack: str, source_dsn: str, probe_project: Path, tmp_path: Path
) -> None:
    statement, refusal = ATTACKS[attack]
    sql = f"call postgres_execute('chrono_pg', '{statement}')"
    run = run_probe(
        probe_project,
        tmp_path,
        "run-operation",
        "run_query",
        "--args",
        yaml.safe_dump({"sql": sql}),
        dsn=source_dsn,
    )
    assert run.result.returncode != 0, run.result.stdout[-2000:]
    assert refusal in run.result.stdout, run.result.stdout[-2000:]
    attack_left_no_trace(source_dsn)


def node_messages(run: Run) -> dict[str, tuple[str, str]]:
    """Status and message of each node of a dbt run, by model name (run_results.json)."""
    results = json.loads((run.folder / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].rsplit(".", 1)[1]: (r["status"], r["message"] or "") for r in results}


def test_postgres_execute_in_a_model_pre_hook_is_refused(
    source_dsn: str, probe_project: Path, tmp_path: Path
) -> None:
    models = ["reads_source", *(f"attack_{name}" for name in ATTACKS)]
    run = run_probe(probe_project, tmp_path, "run", "--select", *models, dsn=source_dsn)
    assert run.result.returncode != 0
    messages = node_messages(run)
    assert messages["reads_source"][0] == "success", run.result.stdout[-3000:]
    for name, (_, refusal) in ATTACKS.items():
        status, message = messages[f"attack_{name}"]
        assert status == "error" and refusal in message, (name, status, message)
    attack_left_no_trace(source_dsn)


# -- no password in any output ------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordSource:
    server: EmbeddedServer

    def dsn(self, password: str = PASSWORD, **changes: object) -> str:
        params = {
            "host": "127.0.0.1",
            "port": self.server.port,
            "dbname": PASSWORD_DATABASE,
            "user": READER_ROLE,
            "password": password,
            **changes,
        }
        return " ".join(f"{key}={value}" for key, value in params.items())


@pytest.fixture(scope="module")
def password_source() -> Iterator[PasswordSource]:
    """A server of its own on which the warehouse's role logs in with a password."""
    folder = Path(tempfile.mkdtemp(prefix="chrono-test-pw-"))
    server = EmbeddedServer(folder / "pgdata", free_port())
    try:
        server.up()
        server.ensure_database(PASSWORD_DATABASE)
        admin = embedded_admin_dsn(server.port, PASSWORD_DATABASE)
        reader_role.setup_embedded_reader(admin, READER_ROLE, PASSWORD_DATABASE)
        source_db.seed(admin, source_db.SyntheticShape(pages=300))
        # the admin keeps trust; every other role logs in with its password over TCP
        (server.pgdata / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"alter role {READER_ROLE} password %s", (PASSWORD,))
                cur.execute("select pg_reload_conf()")
        finally:
            conn.close()
        source = PasswordSource(server)
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(source.dsn(WRONG_PASSWORD)).close()
        psycopg2.connect(source.dsn()).close()
        yield source
    finally:
        server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


def assert_no_password_anywhere(run: Run) -> None:
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert run.places_holding(secret) == [], secret
    assert "Traceback" not in run.result.stdout + run.result.stderr


def attach_failure_line(run: Run) -> str:
    """The one line dbt prints for a source it cannot attach."""
    lines = [line.strip() for line in run.stdout_lines if "cannot read the source" in line]
    assert len(lines) == 1, run.result.stdout[-3000:]
    return lines[0]


def test_a_password_that_works_reaches_postgresql_and_no_output(
    password_source: PasswordSource, probe_project: Path, tmp_path: Path
) -> None:
    run = run_probe(
        probe_project, tmp_path, "run", "--select", "reads_source", dsn=password_source.dsn()
    )
    assert run.result.returncode == 0, run.result.stdout[-3000:]
    assert_no_password_anywhere(run)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("wrong_password", f'(password authentication failed for user "{READER_ROLE}")'),
        ("wrong_port", "(Connection refused)"),
        ("bad_database", '(database "no_such_database" does not exist)'),
    ],
)
def test_a_source_that_cannot_be_attached_is_one_line_without_the_password(
    kind: str, reason: str, password_source: PasswordSource, probe_project: Path, tmp_path: Path
) -> None:
    port, database = password_source.server.port, PASSWORD_DATABASE
    if kind == "wrong_password":
        dsn = password_source.dsn(WRONG_PASSWORD)
    elif kind == "wrong_port":
        port = free_port()
        dsn = password_source.dsn(port=port)
    else:
        database = "no_such_database"
        dsn = password_source.dsn(dbname=database)
    # dbt show may run any SQL: it fails at once (the project's run-type commands wait for
    # their selection: test_analysts_command.py)
    run = run_probe(probe_project, tmp_path, "show", "--select", "reads_source", dsn=dsn)
    assert run.result.returncode != 0
    assert attach_failure_line(run) == (
        f"cannot read the source PostgreSQL at 127.0.0.1:{port}/{database} as {READER_ROLE} "
        f"{reason}: check CHRONO_PG_DSN and that the server is running"
    )
    assert_no_password_anywhere(run)


def test_a_source_stopped_mid_run_leaves_no_password_anywhere(
    password_source: PasswordSource, probe_project: Path, tmp_path: Path
) -> None:
    server = password_source.server
    try:
        run = run_probe(
            probe_project,
            tmp_path,
            "run",
            "--select",
            "stops_the_source",
            "reads_after_stop",
            dsn=password_source.dsn(),
            PROBE_STOP_PGDATA=str(server.pgdata),
            PROBE_STOP_PORT=str(server.port),
        )
        assert not server.status().running
    finally:
        server.up()
    messages = node_messages(run)
    assert messages["stops_the_source"][0] == "success", run.result.stdout[-3000:]
    status, message = messages["reads_after_stop"]
    assert status == "error" and f"port {server.port} failed" in message, message
    assert_no_password_anywhere(run)


def test_with_the_embedded_source_down_dbt_says_how_to_start_it(
    probe_project: Path, tmp_path: Path
) -> None:
    port = free_port()
    run = run_probe(
        probe_project,
        tmp_path,
        "show",
        "--select",
        "reads_source",
        dsn=None,
        CHRONO_PG_PORT=str(port),
        CHRONO_HOME=str(tmp_path / "home"),
    )
    assert run.result.returncode != 0
    assert attach_failure_line(run) == (
        f"cannot read the source PostgreSQL at 127.0.0.1:{port}/chrono_scraper as "
        f"{READER_ROLE} (Connection refused): start the embedded server with "
        "'chrono-analytics db up'"
    )
    assert "Traceback" not in run.result.stdout + run.result.stderr
    assert len(run.stdout_lines) < 15, run.result.stdout


def test_the_readme_shows_the_sql_that_sets_the_role_up() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert reader_role.operator_sql("chrono_reader", "chrono") in readme
