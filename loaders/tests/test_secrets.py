"""No secret column, and no secret or e-mail value, reaches DuckDB or the Parquet lake.

The synthetic source fills every secret column with a value containing FAKE-SECRET, puts it as
the password of the user info of some page URLs (archiver:FAKE-SECRET@host, also inside their
Wayback content_url), and gives users e-mail addresses like user7@example.org, so a leak shows
up as a value, whatever the column is renamed to. It also plants what an attacker would try:
passwords holding '#', '/', '?', '\\' or '@', a backslash scheme, a Wayback URL with one slash
after the embedded scheme (all with PLANT<n> passwords), credential query parameters
(access_token=PLANT-..., X-Amz-Signature, API_KEY, sessionid, sig, code, Token, auth) in page
URLs and error messages, and e-mail addresses (userN@..., also %40-encoded and upper-case) in
URL paths, query strings, error messages and filter reasons.
"""

from __future__ import annotations

import re

from warehouse_helpers import Warehouse

SECRET_COLUMNS = {
    "hashed_password",
    "email_verification_token",
    "mfa_secret",
    "mfa_backup_codes",
    "mfa_enabled",
    "index_search_key",
    "index_search_key_uid",
    "email",
    "full_name",
}
SECRET_VALUE = "FAKE-SECRET"
PLANTED_VALUE = r"PLANT[0-9-]"
EMAIL_VALUE = r"(?i)user[0-9]+(@|%40)"
# regular expressions, each matching one planted form in a source URL
PLANTED_FORMS = (
    r"://admin:PLANT1-S3cr#t@",
    r"://dave:PLANT6-p/w@",
    r"://gina:PLANT9-pw\?x@",
    r"://carol:PLANT3-a@b@",
    r"://ivy:PLANT11-p\\w@",
    r"^(?i:https?):\\\\hank:PLANT10@",
    r"^https://web\.archive\.org/web/.*[A-Za-z]:/bob:PLANT2-pw@",
    r"access_token=PLANT-TOKEN-[0-9]+&email=user[0-9]+@",
    r"X-Amz-Signature=PLANT-SIG-",
    r"&amp;sessionid=PLANT-SESS-",
    r"/people/user[0-9]+@example\.org/",
    r"user[0-9]+%40mail\.com&sig=PLANT-S-",
)


def secret_or_email_values(conn, relation: str, column: str) -> int:  # type: ignore[no-untyped-def]
    """How many values of a text column of a relation (or a Parquet file) hold the planted
    secret or an e-mail address."""
    row = conn.execute(
        f'select count(*) from {relation} where "{column}" like ?'
        f' or regexp_matches("{column}", ?) or regexp_matches("{column}", ?)',
        [f"%{SECRET_VALUE}%", EMAIL_VALUE, PLANTED_VALUE],
    ).fetchone()
    return int(row[0])


def _warehouse_relations(conn) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database()"
    ).fetchall()


def test_the_source_really_holds_secrets(built_warehouse: Warehouse) -> None:
    with built_warehouse.connect() as conn:
        leaked = conn.execute(
            f"select count(*) from chrono_pg.public.users where hashed_password like "
            f"'%{SECRET_VALUE}%' and regexp_matches(email, '{EMAIL_VALUE}')"
        ).fetchone()
    assert leaked is not None and leaked[0] > 0


def test_the_source_urls_really_hold_credentials(built_warehouse: Warehouse) -> None:
    with built_warehouse.connect() as conn:
        urls = conn.execute(
            "select count(*) filter (where original_url like ?), "
            "count(*) filter (where content_url like ?) from chrono_pg.public.scrape_pages",
            [f"%://archiver:{SECRET_VALUE}@%", f"%web.archive.org%://archiver:{SECRET_VALUE}@%"],
        ).fetchone()
    assert urls is not None and urls[0] > 0 and urls[1] > 0, urls


def test_the_source_holds_the_attackers_forms(built_warehouse: Warehouse) -> None:
    """Each planted form is in the source's URLs, and e-mails and credentials are in its error
    messages and filter reasons, so the checks below can fail."""
    with built_warehouse.connect() as conn:
        for form in PLANTED_FORMS:
            row = conn.execute(
                "select count(*) from chrono_pg.public.scrape_pages"
                " where regexp_matches(original_url, ?) or regexp_matches(content_url, ?)",
                [form, form],
            ).fetchone()
            assert row is not None and row[0] > 0, form
        for column in ("error_message", "filter_reason"):
            row = conn.execute(
                f"select count(*) filter (where regexp_matches({column}, ?)),"
                f" count(*) filter (where regexp_matches({column}, ?))"
                " from chrono_pg.public.scrape_pages",
                [EMAIL_VALUE, PLANTED_VALUE],
            ).fetchone()
            assert row is not None and row[0] > 0, column
            assert column == "filter_reason" or row[1] > 0, column


def test_no_relation_has_a_secret_column_or_value(built_warehouse: Warehouse) -> None:
    with built_warehouse.connect() as conn:
        relations = _warehouse_relations(conn)
        assert relations
        for schema, name in relations:
            columns = conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_schema = ? "
                "and table_name = ?",
                [schema, name],
            ).fetchall()
            names = {column for column, _ in columns}
            assert not names & SECRET_COLUMNS, f"{schema}.{name}: {names & SECRET_COLUMNS}"
            text_columns = [column for column, kind in columns if kind == "VARCHAR"]
            for column in text_columns:
                hits = secret_or_email_values(conn, f'"{schema}"."{name}"', column)
                assert hits == 0, f"{schema}.{name}.{column} holds a secret or an e-mail"


def test_no_parquet_file_holds_a_secret(built_warehouse: Warehouse) -> None:
    files = sorted(built_warehouse.lake_root.rglob("*.parquet"))
    with built_warehouse.connect(attach_source=False) as conn:
        for path in files:
            raw = path.read_bytes()
            assert SECRET_VALUE.encode() not in raw, path
            assert not re.search(EMAIL_VALUE.encode(), raw), path
            assert not re.search(PLANTED_VALUE.encode(), raw), path
            columns = conn.execute(f"describe select * from '{path}'").fetchall()
            names = {row[0] for row in columns}
            assert not names & SECRET_COLUMNS, path
            # the pages are compressed, so the raw bytes alone would not show a leaked value
            for column in [row[0] for row in columns if row[1] == "VARCHAR"]:
                hits = secret_or_email_values(conn, f"'{path}'", column)
                assert hits == 0, f"{path}: column {column} holds a secret or an e-mail"
