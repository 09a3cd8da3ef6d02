"""Attach the source PostgreSQL to a DuckDB connection: read-only, as a role that can only
read, and with no password in anything dbt or DuckDB prints or stores.

The project's dbt plugin calls ``attach_source`` for every connection dbt opens (profiles.yml
has no ``attach:`` entry: dbt and DuckDB print an ATTACH's path in their errors, four times on
stdout and more in logs/dbt.log, and a DSN's password with it). Here the DSN of
CHRONO_PG_DSN is taken apart with libpq's own parser: the ATTACH string keeps everything but
the password, and the password goes to libpq through the process environment (PGPASSWORD),
which libpq reads when DuckDB's postgres extension opens a connection, also the connections
it opens later in the run. No string DuckDB holds contains it, so no error can print it.

Failures are one line that names the server (host:port/database and user, never the
password) and what to do. They are RuntimeErrors, which dbt-duckdb reports as a connection
failure without a traceback.

After attaching, ``attach_source`` asks PostgreSQL what the role could change and refuses to
go on when it could write anything (a superuser, an owner, CREATE or TEMPORARY, write
privileges on a table, large objects): the warehouse never runs as the admin role.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import duckdb
import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

from chrono_analytics.config import Settings, load_settings
from chrono_analytics.errors import UserFacingError

SOURCE_ALIAS = "chrono_pg"

# What the attached role could change; each column is a reason to refuse the role.
WRITE_CHECK_SQL = """
select
    r.rolsuper as "is a superuser",
    has_database_privilege(current_database(), 'CREATE') as "may create schemas",
    has_database_privilege(current_database(), 'TEMPORARY') as "may create temporary tables",
    has_schema_privilege('public', 'CREATE') as "may create tables in schema public",
    has_function_privilege('lo_create(oid)', 'EXECUTE') as "may create large objects",
    (
        select array_to_string((array_agg(c.relname order by c.relname))[1:5], ', ')
        from pg_class as c
        where
            c.relnamespace = 'public'::regnamespace
            and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            and (
                pg_has_role(c.relowner, 'USAGE')
                or has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
            )
    ) as "may write to"
from pg_roles as r
where r.rolname = current_user
"""


class SourceAttachError(UserFacingError, RuntimeError):
    """The source could not be attached, or its role could write; the message is one line."""


@dataclass(frozen=True)
class SourceDsn:
    """A libpq DSN taken apart: the DSN without its password, the password, and where it
    points, for messages."""

    dsn: str
    password: str | None
    server: str

    @classmethod
    def parse(cls, dsn: str) -> SourceDsn:
        try:
            params = parse_dsn(dsn)
        except psycopg2.ProgrammingError:
            raise SourceAttachError(
                "CHRONO_PG_DSN could not be parsed as a libpq DSN (check its quoting)"
            ) from None
        password = params.pop("password", None) or None
        host = params.get("host") or params.get("hostaddr") or "localhost"
        port = params.get("port") or "5432"
        user = params.get("user") or "the login user"
        database = params.get("dbname") or user
        return cls(make_dsn(**params), password, f"{host}:{port}/{database} as {user}")

    def redact(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def failure_reason(message: str) -> str:
    """libpq's reason from a DuckDB error: 'Connection refused', 'password authentication
    failed for user "x"', ... (the first line, without the DSN DuckDB prefixes)."""
    first = message.strip().splitlines()[0] if message.strip() else "no answer"
    first = re.sub(r'^.*Unable to connect to Postgres at ".*?": ', "", first)
    first = first.rsplit(" failed: ", 1)[-1]
    return re.sub(r"^(FATAL|ERROR):\s+", "", first).strip()


def _escape(text: str) -> str:
    return text.replace("'", "''")


def attach_source(
    conn: duckdb.DuckDBPyConnection, settings: Settings | None = None, alias: str = SOURCE_ALIAS
) -> None:
    """Attach the warehouse's source (settings.pg_dsn) READ_ONLY as `alias`; see the module."""
    settings = settings or load_settings()
    source = SourceDsn.parse(settings.pg_dsn)
    if settings.uses_embedded_server:
        advice = "start the embedded server with 'chrono-analytics db up'"
    else:
        advice = "check CHRONO_PG_DSN and that the server is running"
    if source.password is not None and os.environ.get("PGPASSWORD") != source.password:
        os.environ["PGPASSWORD"] = source.password
    try:
        conn.execute(f"attach '{_escape(source.dsn)}' as {alias} (type postgres, read_only)")
    except duckdb.Error as exc:
        reason = source.redact(failure_reason(str(exc)))
        raise SourceUnreachable(
            f"cannot read the source PostgreSQL at {source.server} ({reason}): {advice}"
        ) from None
    try:
        check = conn.execute(
            f"select * from postgres_query('{alias}', '{_escape(WRITE_CHECK_SQL)}')"
        )
        row = check.fetchone()
        names = [column[0] for column in check.description or []]
    except duckdb.Error as exc:
        conn.execute(f"detach {alias}")
        reason = source.redact(failure_reason(str(exc)))
        raise SourceAttachError(
            f"cannot check the privileges of the source role at {source.server} ({reason})"
        ) from None
    powers = _powers(names, row)
    if powers:
        conn.execute(f"detach {alias}")
        raise SourceAttachError(
            f"the source role at {source.server} can write ({'; '.join(powers)}): the "
            "warehouse reads as a role that can only read; see the README, section "
            "'The source's read-only role'"
        )


def _powers(names: list[str], row: tuple[Any, ...] | None) -> list[str]:
    if row is None:
        return ["it is not in pg_roles"]
    if row[0] is True:
        return [names[0]]  # a superuser can do everything: that says it all
    powers = []
    for name, value in zip(names, row, strict=True):
        if value is True:
            powers.append(name)
        elif isinstance(value, str) and value:
            powers.append(f"{name} {value}")
    return powers


class SourceUnreachable(SourceAttachError):
    """The ATTACH itself failed: the server is down, refuses the login or has no such
    database (as opposed to a role that could write, which is always refused)."""


# dbt commands that may go on without the source: the selection decides whether it is needed
# (the on-run-start hook require_source() stops a run whose selection reads it, with this
# module's one line), or nothing they do reads it (compile renders SQL, docs generate reads
# the DuckDB file's catalog). Every other command (show, run-operation, debug, ...) may run
# any SQL and fails at once, with the same line.
COMMANDS_WITHOUT_SOURCE = frozenset(
    {"run", "build", "test", "seed", "snapshot", "freshness", "retry", "compile", "generate"}
)


def attach_configured_source(
    conn: duckdb.DuckDBPyConnection, plugin_config: dict[str, Any], command: str | None = None
) -> str | None:
    """The dbt plugin's part: attach the source under the plugin config's `source_alias`.

    Returns None when attached (or when no alias is configured). When the server cannot be
    reached and `command` (dbt's subcommand) is in COMMANDS_WITHOUT_SOURCE, returns the one
    line saying why, without attaching; otherwise raises it."""
    alias = plugin_config.get("source_alias")
    if not alias:
        return None
    try:
        settings = load_settings()
    except UserFacingError as exc:
        raise SourceAttachError(str(exc)) from None
    try:
        attach_source(conn, settings, alias=str(alias))
    except SourceUnreachable as exc:
        if command in COMMANDS_WITHOUT_SOURCE:
            return str(exc)
        raise
    return None
