"""The source database: connect, create the Chrono Scraper schema, fill it with synthetic data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources

import psycopg2
import psycopg2.extensions

from chrono_analytics import reader_role
from chrono_analytics.config import READER_ROLE, Settings
from chrono_analytics.errors import UserFacingError
from chrono_analytics.pgserver import EmbeddedServer

SOURCE_TABLES = ("users", "projects", "domains", "scrape_sessions", "scrape_pages")


@dataclass(frozen=True)
class SyntheticShape:
    """How much data to generate; the small tables scale gently with the page count."""

    pages: int
    seed: int = 42

    def __post_init__(self) -> None:
        if self.pages < 1:
            raise UserFacingError(f"--pages must be at least 1, got {self.pages}")

    @property
    def users(self) -> int:
        return 40

    @property
    def projects(self) -> int:
        return 300

    @property
    def domains(self) -> int:
        return max(50, min(3000, self.pages // 100))

    @property
    def sessions(self) -> int:
        return max(self.projects, min(2000, self.pages // 200))


def _sql(name: str) -> str:
    return resources.files("chrono_analytics").joinpath("sql", name).read_text()


def connect(dsn: str, setting: str = "CHRONO_PG_DSN") -> psycopg2.extensions.connection:
    """Open a connection or fail with one line that says what is wrong (libpq's messages
    never contain the password); `setting` names the variable the DSN came from."""
    try:
        return psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        raise UserFacingError(
            f"cannot connect to PostgreSQL ({reason}); check {setting}, or unset it and run "
            "'chrono-analytics db up' to use the embedded server"
        ) from None


def ensure_source_ready(settings: Settings) -> None:
    """Start the embedded server if it is the source, with its database and the warehouse's
    read-only role (idempotent); then check that the source answers the warehouse's role."""
    if settings.uses_embedded_server:
        server = EmbeddedServer(settings.pgdata, settings.pg_port)
        server.up()
        server.ensure_database(settings.pg_database)
        reader_role.setup_embedded_reader(
            settings.pg_admin_dsn, settings.reader_role, settings.pg_database
        )
    connect(settings.pg_dsn).close()


def seed(admin_dsn: str, shape: SyntheticShape, reader: str = READER_ROLE) -> float:
    """Recreate the schema as the admin role, generate the synthetic data and grant the
    warehouse's role `reader` its columns of the new tables; returns the seconds it took."""
    replacements = {
        "__SEED__": shape.seed,
        "__PAGES__": shape.pages,
        "__USERS__": shape.users,
        "__PROJECTS__": shape.projects,
        "__DOMAINS__": shape.domains,
        "__SESSIONS__": shape.sessions,
    }
    script = _sql("synthetic.sql")
    for placeholder, value in replacements.items():
        script = script.replace(placeholder, str(int(value)))
    started = time.perf_counter()
    conn = connect(admin_dsn, "CHRONO_PG_ADMIN_DSN")
    try:
        with conn, conn.cursor() as cur:
            # this session's commits wait for their WAL to be flushed, even on a server that
            # runs with synchronous_commit off (the embedded one): until it is, no row they
            # wrote can be hinted committed, and the vacuum below left the visibility map empty
            cur.execute("set synchronous_commit to on")
            cur.execute(_sql("schema.sql"))
            cur.execute(script)
            cur.execute(f"comment on table scrape_pages is '{_shape_marker(shape)}'")
            reader_role.grant_tables(cur, reader)
    except psycopg2.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise UserFacingError(f"generating the synthetic data failed: {first_line}") from None
    finally:
        conn.close()
    # as autovacuum does on a live server: the visibility map lets the incremental runs count
    # pages per day from the created_at index alone (an index-only scan, not the table)
    conn = connect(admin_dsn, "CHRONO_PG_ADMIN_DSN")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum (analyze) scrape_pages")
    finally:
        conn.close()
    return time.perf_counter() - started


def row_counts(dsn: str) -> dict[str, int]:
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in SOURCE_TABLES:
                cur.execute(f"select count(*) from {table}")
                row = cur.fetchone()
                counts[table] = int(row[0]) if row else 0
            return counts
    except psycopg2.errors.UndefinedTable:
        raise UserFacingError(
            "the source database has no Chrono Scraper tables: run 'chrono-analytics db seed'"
        ) from None
    except psycopg2.errors.InsufficientPrivilege as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise UserFacingError(
            f"the warehouse's role cannot read the source ({first_line}): grant it as the "
            "README shows, or run 'chrono-analytics db up' for the embedded server"
        ) from None
    finally:
        conn.close()


# Bumped whenever synthetic.sql generates different data for the same shape, or seed() stores
# it differently, so that a database generated by an older version is generated again (demo,
# benches). 6: the visibility map is set (version 5 left it empty on the embedded server).
GENERATOR_VERSION = 6


def _shape_marker(shape: SyntheticShape) -> str:
    return f"chrono-synthetic generator={GENERATOR_VERSION} pages={shape.pages} seed={shape.seed}"


def seeded_shape(dsn: str) -> SyntheticShape | None:
    """The shape the synthetic data was generated with, from a comment on scrape_pages."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select obj_description(to_regclass('scrape_pages'), 'pg_class')")
            row = cur.fetchone()
    finally:
        conn.close()
    marker = row[0] if row else None
    if not marker or not marker.startswith("chrono-synthetic "):
        return None
    fields = dict(part.split("=", 1) for part in marker.split()[1:])
    if fields.get("generator") != str(GENERATOR_VERSION):
        return None
    return SyntheticShape(pages=int(fields["pages"]), seed=int(fields["seed"]))
