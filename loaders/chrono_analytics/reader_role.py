"""The role the warehouse reads the source as: it can SELECT the columns analytics needs, and
nothing else.

PostgreSQL lets every role turn off ``default_transaction_read_only``, ``SET TRANSACTION READ
WRITE``, and even ``ALTER ROLE`` its own session defaults, so being read-only cannot rest on a
setting. It rests on privileges the role cannot change:

- it is no superuser, cannot create roles or databases, owns nothing and holds no grant
  option, so no statement it sends can give it more;
- on the five source tables (models/sources.yml) it holds SELECT on an allowlist of columns
  (``READER_COLUMNS``: the columns the staging models read; no e-mail, name, password
  hash, token or MFA secret) plus ``ctid``, the row's physical address, which DuckDB's
  parallel scan filters on; no INSERT, UPDATE, DELETE or TRUNCATE;
- PUBLIC (every role) loses CREATE on schema ``public`` and TEMPORARY on the database, and the
  execution of the functions that create large objects, the only other things a role without
  privileges could write;
- ``default_transaction_read_only = on`` stays as a second layer.

Statements come in three groups, all idempotent: the role itself (created here only on the
embedded server; an operator creates it with a password, see the README), the database (once
per database), and the tables, granted again after every ``db seed``, since dropping a table
drops its grants.
``operator_sql`` prints the script an operator runs on a production server; the README shows
it and a test keeps both the same.
"""

from __future__ import annotations

import re
import textwrap

import psycopg2
import psycopg2.extensions

from chrono_analytics.errors import UserFacingError

READER_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "is_active",
        "is_verified",
        "approval_status",
        "academic_affiliation",
        "created_at",
        "updated_at",
    ),
    "projects": (
        "id",
        "user_id",
        "name",
        "description",
        "status",
        "is_active",
        "process_documents",
        "enable_attachment_download",
        "langextract_enabled",
        "langextract_provider",
        "langextract_estimated_cost_per_1k",
        "archive_source",
        "created_at",
        "updated_at",
    ),
    "domains": (
        "id",
        "project_id",
        "domain_name",
        "match_type",
        "url_path",
        "status",
        "incremental_enabled",
        "total_pages",
        "scraped_pages",
        "failed_pages",
        "duplicate_pages",
        "list_pages_filtered",
        "created_at",
        "updated_at",
    ),
    "scrape_sessions": (
        "id",
        "project_id",
        "session_name",
        "status",
        "total_urls",
        "completed_urls",
        "failed_urls",
        "cancelled_urls",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ),
    "scrape_pages": (
        "id",
        "domain_id",
        "scrape_session_id",
        "original_url",
        "content_url",
        "unix_timestamp",
        "mime_type",
        "status_code",
        "content_length",
        "digest_hash",
        "title",
        "extracted_text",
        "markdown_content",
        "is_pdf",
        "is_duplicate",
        "is_list_page",
        "extraction_method",
        "filter_reason",
        "filter_category",
        "is_manually_overridden",
        "filter_confidence",
        "priority_score",
        "status",
        "error_message",
        "error_type",
        "retry_count",
        "max_retries",
        "fetch_time",
        "extraction_time",
        "total_processing_time",
        "first_seen_at",
        "last_attempt_at",
        "completed_at",
        "created_at",
        "updated_at",
    ),
}

# Functions with which a role that has no privilege at all could still write (large objects);
# lo_import is the superuser's already.
LARGE_OBJECT_CREATORS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)")

ROLE_ATTRIBUTES = "login nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls"


def ident(name: str) -> str:
    """A PostgreSQL identifier, quoted when it is not a plain lower-case name."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def role_statements(role: str) -> list[str]:
    """The role's attributes, its read-only default (a second layer only: see above), and
    pg_read_all_stats: the start time of other sessions' open transactions, which holds an
    incremental run's watermark back to the oldest of them (macros/incremental_inputs.sql,
    source_clock); it reads statistics, it writes nothing."""
    return [
        f"alter role {ident(role)} {ROLE_ATTRIBUTES}",
        f"alter role {ident(role)} set default_transaction_read_only = on",
        f"grant pg_read_all_stats to {ident(role)} with inherit true",
    ]


def embedded_role_statements(role: str) -> list[str]:
    """Create the role when it is missing; bring its attributes and settings back to ours."""
    literal = "'" + role.replace("'", "''") + "'"
    return [
        "do $$ begin if not exists (select from pg_roles where rolname = "
        f"{literal}) then create role {ident(role)}; end if; end $$",
        f"alter role {ident(role)} reset all",
        *role_statements(role),
    ]


def database_statements(role: str, database: str) -> list[str]:
    """What no role may do in the database unless granted, and the role's way in."""
    return [
        "revoke create on schema public from public",
        f"revoke temporary on database {ident(database)} from public",
        f"revoke execute on function {', '.join(LARGE_OBJECT_CREATORS)} from public",
        f"grant connect on database {ident(database)} to {ident(role)}",
        f"grant usage on schema public to {ident(role)}",
    ]


def table_statements(role: str, tables: list[str] | None = None) -> list[str]:
    """SELECT on the allowlisted columns (and ctid) of the source tables, nothing else. REVOKE
    ALL first also removes column grants a former allowlist had."""
    names = list(READER_COLUMNS) if tables is None else tables
    statements = [f"revoke all on {', '.join(names)} from {ident(role)}"]
    for table in names:
        columns = textwrap.fill(
            ", ".join(("ctid", *READER_COLUMNS[table])),
            width=96,
            initial_indent="    ",
            subsequent_indent="    ",
        )
        statements.append(f"grant select (\n{columns}\n) on {table} to {ident(role)}")
    return statements


def operator_sql(role: str, database: str) -> str:
    """The script an operator runs on a production server (as a superuser or the owner of the
    database and its tables) after creating the role with a password."""
    statements = [
        *role_statements(role),
        *database_statements(role, database),
        *table_statements(role),
    ]
    return "".join(f"{statement};\n" for statement in statements)


def _check_role(cur: psycopg2.extensions.cursor, role: str) -> None:
    cur.execute("select rolsuper, rolname = current_user from pg_roles where rolname = %s", (role,))
    row = cur.fetchone()
    if row is None:
        raise UserFacingError(
            f"the warehouse's role {role!r} (the user of CHRONO_PG_DSN) does not exist on the "
            "source server: create it as the README shows (The source's read-only role)"
        )
    if row[0] or row[1]:
        raise UserFacingError(
            f"the warehouse's role {role!r} is a superuser or the admin role itself: "
            "CHRONO_PG_DSN must name a role that can only read (README)"
        )


def grant_tables(cur: psycopg2.extensions.cursor, role: str) -> None:
    """Grant the role its columns of the source tables that exist (after `db seed`)."""
    _check_role(cur, role)
    cur.execute(
        "select table_name from information_schema.tables "
        "where table_schema = 'public' and table_name = any(%s)",
        (list(READER_COLUMNS),),
    )
    present = {row[0] for row in cur.fetchall()}
    tables = [table for table in READER_COLUMNS if table in present]
    if tables:
        for statement in table_statements(role, tables):
            cur.execute(statement)


def setup_embedded_reader(admin_dsn: str, role: str, database: str) -> None:
    """(Re)create the role on the embedded server with everything it may do in `database`."""
    try:
        conn = psycopg2.connect(admin_dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        raise UserFacingError(
            f"cannot connect to the embedded server as admin ({reason})"
        ) from None
    try:
        with conn, conn.cursor() as cur:
            # roles are shared by the server's databases: one setup at a time
            cur.execute("select pg_advisory_xact_lock(hashtext('chrono_reader_role'))")
            for statement in embedded_role_statements(role) + database_statements(role, database):
                cur.execute(statement)
            grant_tables(cur, role)
    finally:
        conn.close()
