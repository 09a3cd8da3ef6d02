"""The page marts' derivations checked against independent Python implementations.

Every distinct URL, host and Wayback timestamp of the synthetic source (with its ugly cases:
ports, user info, upper case, trailing dots, IDN hosts, queries with dots and slashes,
fragments, URLs without path, malformed timestamps) goes through Python's own parsers
(urllib.parse, datetime) and a from-the-spec Public Suffix List matcher over the committed
seed, and must give what cdx_records holds. Durations are compared with the source's float
seconds, and two builds from separate processes must give identical rows and ids.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from warehouse_helpers import PROJECT_ROOT, Warehouse, reference_wayback

MART_MODELS = ("int_scrape_pages_enriched", "cdx_records", "content_analytics")
DERIVATION_MACRO_FILES = (
    "url_parsing",
    "public_suffix",
    "domain_category",
    "content_category",
    "size_category",
    "archive_source",
    "page_status",
    "utc_calendar",
    "content_quality",
    "page_errors",
)
SEEDS = PROJECT_ROOT / "seeds"


# --- independent reference implementations ---------------------------------------------------


def reference_url_parts(url: str) -> dict[str, Any]:
    """Host, path, query, depth and extension of a URL by urllib.parse and os.path; the slashes
    or backslashes after http:, https:, ftp:, ws: and wss: are read as '//', as browsers do."""
    special = re.match(r"(?i)(https?|ftp|wss?):[/\\]+", url)
    if special:
        url = f"{special.group(1)}://{url[special.end() :]}"
    parts = urlsplit(url)
    host = parts.hostname.rstrip(".") if parts.hostname else None
    if host is not None and ":" in host:
        host = f"[{host}]"  # urllib drops the brackets of an IPv6 literal; we keep them
    path = parts.path or "/"
    segment = path.rsplit("/", 1)[-1].split(";", 1)[0]
    extension = os.path.splitext(segment)[1][1:].lower() or None
    return {
        "domain": host,
        "url_path": path,
        "url_params": parts.query or None,
        "url_depth": len([part for part in path.split("/") if part]),
        "file_extension": extension,
        "is_root_page": path == "/",
    }


class PublicSuffixList:
    """The Public Suffix List algorithm as publicsuffix.org states it, over the seed's rules
    (public_suffix_rules).

    A rule is a list of labels, '*' matching any one label. The prevailing rule is a matching
    exception rule if there is one, else the matching rule with the most labels, else '*'.
    The public suffix is the prevailing rule's labels, minus the leftmost for an exception.
    """

    def __init__(self, seed: Path) -> None:
        self.rules: dict[str, list[tuple[list[str], bool]]] = defaultdict(list)
        with seed.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                labels = row["suffix"].split(".")
                if row["is_rule"] == "true":
                    self.rules[labels[-1]].append((labels, False))
                if row["is_wildcard_parent"] == "true":
                    self.rules[labels[-1]].append((["*", *labels], False))
                if row["is_exception"] == "true":
                    self.rules[labels[-1]].append((labels, True))

    def suffix_label_count(self, host: str) -> int:
        labels = host.split(".")
        matches = [
            (rule, is_exception)
            for rule, is_exception in self.rules.get(labels[-1], [])
            if len(rule) <= len(labels)
            and all(
                want in ("*", have)
                for want, have in zip(reversed(rule), reversed(labels), strict=False)
            )
        ]
        exceptions = [rule for rule, is_exception in matches if is_exception]
        if exceptions:
            return len(exceptions[0]) - 1
        return max([len(rule) for rule, _ in matches], default=1)

    def split(self, host: str) -> dict[str, str | None]:
        labels = host.split(".")
        count = self.suffix_label_count(host)
        return {
            "public_suffix": ".".join(labels[-count:]),
            "registered_domain": ".".join(labels[-count - 1 :]) if len(labels) > count else None,
            "subdomain": ".".join(labels[: -count - 1]) if len(labels) > count + 1 else None,
        }


def reference_domain_category(public_suffix: str | None) -> str:
    """The application's rule on the public suffix: gov, mil, gov.<cc> government; edu, edu.<cc>,
    ac.<cc> educational; org, org.<cc> nonprofit; anything else commercial."""
    if public_suffix is None:
        return "commercial"
    labels = public_suffix.split(".")
    country = labels[-1]
    second = labels[-2] if len(labels) >= 2 and len(country) == 2 and country.isalpha() else None
    if labels == ["gov"] or labels == ["mil"] or second == "gov":
        return "government"
    if labels == ["edu"] or second in ("edu", "ac"):
        return "educational"
    if labels == ["org"] or second == "org":
        return "nonprofit"
    return "commercial"


def rows_as_dicts(cursor: Any) -> Iterator[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    for row in cursor.fetchall():
        yield dict(zip(names, row, strict=True))


# --- checks on the session's built warehouse ------------------------------------------------


AUTHORITY_ENDS = "/?#\\"
ADDRESS_SCHEMES = ("mailto:", "news:", "xmpp:", "sip:", "sips:")
PARAMETER_BOUNDARIES = "?&;#"
VALUE_ENDS = "&;#?\"'<>\\"
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _user_info_end(url: str, start: int) -> int:
    """Where the user info of the URL whose authority starts at `start` ends (`start`: none),
    by the rule of url_user_info_pattern, read step by step."""
    position = start
    while True:
        segment_end = next(
            (i for i in range(position, len(url)) if url[i] in AUTHORITY_ENDS), len(url)
        )
        host_start = max(position, url.rfind("@", position, segment_end) + 1)
        name, colon, rest = url[host_start:segment_end].partition(":")
        is_port = re.fullmatch("[0-9]{0,5}", rest) is not None
        next_at = url.find("@", host_start)
        if not colon or "[" in name or is_port or next_at == -1:
            return host_start
        position = next_at + 1  # a password holding '/', '?', '#' or '\\'


def reference_without_user_info(url: str) -> str:
    """The URL without the user info of its own authority and of every URL embedded in it."""
    own = re.match(r"(?i)(?:https?|ftp|wss?):[/\\]*|[a-z0-9+.-]+:[/\\]{2,}|[/\\]{2}", url)
    starts = [] if url.lower().startswith(ADDRESS_SCHEMES) else [own.end() if own else 0]
    embedded = r"(?i)(?:(?<![a-z0-9+.-])(?:https?|ftp|wss?):[/\\]*|:[/\\]{2,})"
    starts += [match.end() for match in re.finditer(embedded, url)]
    pieces, done = [], 0
    for start in sorted(set(starts)):
        if start < done:
            continue
        end = _user_info_end(url, start)
        if end > start:
            pieces.append(url[done:start])
            done = end
    return "".join(pieces) + url[done:]


def is_credential_name(name: str) -> bool:
    """macros/personal_data.sql's list of credential parameter names, read word by word."""
    name = name.lower()
    if not name or not set(name) <= NAME_CHARACTERS:
        return False
    long_words = ("token", "secret", "password", "passwd", "signature", "credential", "credentials")
    short_words = ("key", "apikey", "sig", "session", "auth", "pwd")
    return (
        name == "code"
        or name.endswith(long_words)
        or any(
            name == word or name.endswith(tuple(f"{c}{word}" for c in "_.-"))
            for word in short_words
        )
        or re.fullmatch("[a-z]*sess(ion)?[_.-]?id", name) is not None
    )


def reference_without_credentials(text: str) -> str:
    """The values of credential query parameters replaced by <redacted>, also in a
    percent-encoded query string (%3F or %26 before the name, %3D for '=')."""
    pieces, done, i = [], 0, 0
    while i < len(text):
        plain = i == 0 or text[i - 1] in PARAMETER_BOUNDARIES or text[i - 1].isspace()
        encoded = text[max(0, i - 3) : i].lower() in ("%3f", "%26")
        name_end = i
        while name_end < len(text) and text[name_end].lower() in NAME_CHARACTERS:
            name_end += 1
        if name_end > i and is_credential_name(text[i:name_end]):
            if plain and text[name_end : name_end + 1] == "=":
                value_start = value_end = name_end + 1
                while value_end < len(text) and not (
                    text[value_end] in VALUE_ENDS or text[value_end].isspace()
                ):
                    value_end += 1
                if value_end > value_start:
                    pieces.append(text[done:value_start] + "<redacted>")
                    done = i = value_end
                    continue
            if encoded and text[name_end : name_end + 3].lower() == "%3d":
                value_start = value_end = name_end + 3
                while value_end < len(text):
                    char = text[value_end]
                    if char == "%":
                        escape = text[value_end + 1 : value_end + 3]
                        if (
                            len(escape) < 2
                            or escape == "26"
                            or not all(c in "0123456789abcdefABCDEF" for c in escape)
                        ):
                            break
                        value_end += 3
                    elif char in VALUE_ENDS or char.isspace():
                        break
                    else:
                        value_end += 1
                if value_end > value_start:
                    pieces.append(text[done:name_end] + "%3D<redacted>")
                    done = i = value_end
                    continue
        i += 1
    return "".join(pieces) + text[done:]


def _category(char: str) -> str:
    """'L' for a letter of macros/personal_data.sql's e-mail rule (ASCII letters, code points
    from U+00C0 on outside the blocks of punctuation, symbols and spaces), 'N' for a digit."""
    code = ord(char)
    if "0" <= char <= "9":
        return "N"
    if char.isascii():
        return "L" if char.isalpha() else ""
    letters = ((0xC0, 0x1FFF), (0x2C00, 0x2DFF), (0x3040, 0xD7FF), (0xF900, 0xFDFF))
    if code >= 0x10000 or any(low <= code <= high for low, high in letters):
        return "L"
    return ""


def reference_without_emails(text: str) -> str:
    """E-mail addresses replaced by <email>: a local part, '@' or '%40', then two or more
    labels, the last starting with a letter, none of the others digits and a final 'x'."""
    pieces, done = [], 0
    for match in re.finditer("@|%40", text):
        at, after = match.start(), match.end()
        if at < done:
            continue
        local_start = at
        while local_start > done and (
            _category(text[local_start - 1]) in ("L", "N") or text[local_start - 1] in "._%+-"
        ):
            local_start -= 1
        labels, end, position = [], after, after
        while True:
            label_end = position
            while label_end < len(text) and (
                _category(text[label_end]) in ("L", "N") or text[label_end] == "-"
            ):
                label_end += 1
            if label_end == position:
                break
            labels.append((text[position:label_end], label_end))
            if text[label_end : label_end + 1] != ".":
                break
            position = label_end + 1
        for count in range(len(labels), 1, -1):
            firsts = [label for label, _ in labels[: count - 1]]
            last = labels[count - 1][0]
            retina = [
                label
                for label in firsts
                if label[-1] in "xX"
                and all(_category(c) == "N" for c in label[:-1])
                and len(label) > 1
            ]
            if _category(last[0]) == "L" and not retina:
                end = labels[count - 1][1]
                break
        if local_start < at and end > after:
            pieces.append(text[done:local_start] + "<email>")
            done = end
    return "".join(pieces) + text[done:]


def reference_masked_url(url: str) -> str:
    """mask_personal_data of a URL column, implemented again in Python."""
    return reference_without_emails(reference_without_credentials(reference_without_user_info(url)))


def test_url_parts_match_urllib(built_warehouse: Warehouse) -> None:
    """original_url is the source's URL masked (user info, credential parameters, e-mail
    addresses) by the Python reference, and each part of cdx_records urllib's reading of it."""
    with built_warehouse.connect() as conn:
        rows = list(
            rows_as_dicts(
                conn.execute(
                    "select distinct source.original_url as source_url, cdx.original_url,"
                    " cdx.domain, cdx.url_path, cdx.url_params, cdx.url_depth,"
                    " cdx.file_extension, cdx.is_root_page from marts.cdx_records as cdx"
                    " inner join chrono_pg.public.scrape_pages as source"
                    " on source.id = cdx.record_id"
                )
            )
        )
    assert len(rows) > 1000
    ugly = ("@", ":8080", ".com./", "://WWW.", "?utm", "#", "ü", "xn--", ".tar.gz", ":\\\\")
    ugly += ("PLANT", "%40", "&amp;", "access_token=", "X-Amz-Signature=", "/people/user")
    for marker in ugly:
        assert any(marker in row["source_url"] for row in rows), f"no URL with {marker!r}"
    mismatches = []
    for row in rows:
        masked = reference_masked_url(row["source_url"])
        expected = {**reference_url_parts(masked), "original_url": masked}
        actual = {key: row[key] for key in expected}
        if actual != expected:
            mismatches.append((row["source_url"], actual, expected))
    assert not mismatches, mismatches[:5]


def test_public_suffix_split_matches_the_list_algorithm(built_warehouse: Warehouse) -> None:
    psl = PublicSuffixList(SEEDS / "public_suffix_rules.csv")
    with built_warehouse.connect() as conn:  # the intermediate model is a view over the source
        rows = list(
            rows_as_dicts(
                conn.execute(
                    "select distinct domain, subdomain, registered_domain, public_suffix,"
                    " domain_tld, domain_category"
                    " from intermediate.int_scrape_pages_with_domain_parts"
                )
            )
        )
    assert {row["public_suffix"] for row in rows} >= {"co.uk", "com.au", "gov.uk", "ac.uk"}
    mismatches = []
    for row in rows:
        expected = {
            **psl.split(row["domain"]),
            "domain_tld": row["domain"].rsplit(".", 1)[-1],
        }
        expected["domain_category"] = reference_domain_category(expected["public_suffix"])
        actual = {key: row[key] for key in expected}
        if actual != expected:
            mismatches.append((row["domain"], actual, expected))
    assert not mismatches, mismatches[:5]


def test_archive_fields_match_python_datetime(built_warehouse: Warehouse) -> None:
    with built_warehouse.connect() as conn:
        rows = conn.execute(
            "select p.unix_timestamp, c.archive_timestamp, c.archive_date, c.archive_year,"
            " c.archive_month, c.archive_day, c.archive_hour, c.archive_weekday"
            " from marts.cdx_records as c"
            " inner join chrono_pg.public.scrape_pages as p on c.record_id = p.id"
        ).fetchall()
    assert any(reference_wayback(row[0]) is None for row in rows), "no malformed timestamp"
    for raw, epoch, date, year, month, day, hour, weekday in rows:
        parsed = reference_wayback(raw)
        if parsed is None:
            assert (epoch, date, year, month, day, hour, weekday) == (None,) * 7, raw
            continue
        expected = (
            int(parsed.timestamp()),
            parsed.date(),
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.isoweekday() % 7,
        )
        assert (epoch, date, year, month, day, hour, weekday) == expected, raw


def test_durations_are_source_seconds_times_1000(built_warehouse: Warehouse) -> None:
    def ms(seconds: float | None) -> int | None:
        return None if seconds is None else math.floor(seconds * 1000 + 0.5)

    with built_warehouse.connect() as conn:
        rows = conn.execute(
            "select p.fetch_time, p.extraction_time, p.total_processing_time,"
            " c.fetch_time_ms, c.extraction_time_ms, c.total_processing_time_ms,"
            " a.fetch_time_ms, a.parse_time_ms, a.total_processing_time_ms"
            " from marts.cdx_records as c"
            " inner join marts.content_analytics as a on a.cdx_record_id = c.record_id"
            " inner join chrono_pg.public.scrape_pages as p on c.record_id = p.id"
        ).fetchall()
    assert any(row[0] is not None and row[0] > 1 for row in rows)
    for fetch, extraction, total, *marts in rows:
        expected = [ms(fetch), ms(extraction), ms(total)]
        assert marts == expected + expected, (fetch, extraction, total, marts)


def test_marts_carry_no_personal_data(built_warehouse: Warehouse) -> None:
    forbidden_names = ("email", "full_name", "password", "token", "secret", "mfa", "affiliation")
    with built_warehouse.connect() as conn:
        emails = {
            row[0] for row in conn.execute("select email from chrono_pg.public.users").fetchall()
        }
        for model in ("cdx_records", "content_analytics"):
            columns = conn.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = 'marts' and table_name = ?",
                [model],
            ).fetchall()
            assert columns, model
            for name, _ in columns:
                assert not any(word in name.lower() for word in forbidden_names), (model, name)
            for name, data_type in columns:
                if data_type != "VARCHAR":
                    continue
                leaked = conn.execute(
                    f'select count(*) from marts.{model} where "{name}" in'
                    " (select email from chrono_pg.public.users)"
                    f""" or "{name}" like '%FAKE-SECRET%'"""
                ).fetchone()
                assert leaked == (0,), (model, name)
    assert emails


# --- two builds in two processes -------------------------------------------------------------


@pytest.fixture(scope="module")
def rebuilt_marts(
    shared_source_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]]:
    """The page marts built twice by separate dbt processes into one fresh warehouse (the
    on-run-start hook loads the seeds that `dbt run` does not)."""
    folder = tmp_path_factory.mktemp("marts_rebuild")
    warehouse = Warehouse(shared_source_dsn, folder / "chrono.duckdb", folder / "lake")
    warehouse.dbt("deps", "--quiet")
    snapshots = []
    for _ in range(2):
        warehouse.dbt("run", "--select", *(f"+{model}" for model in MART_MODELS))
        with warehouse.connect(attach_source=False) as conn:
            snapshots.append(
                {
                    model: conn.execute(
                        f"select * from marts.{model} order by scrape_page_id"
                    ).fetchall()
                    for model in ("cdx_records", "content_analytics")
                }
            )
    return snapshots[0], snapshots[1]


def test_a_rebuild_gives_identical_rows(
    rebuilt_marts: tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]],
) -> None:
    first, second = rebuilt_marts
    for model, rows in first.items():
        assert rows, model
        assert rows == second[model], model


def test_ids_are_the_source_key_in_every_process(
    rebuilt_marts: tuple[dict[str, list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]],
) -> None:
    for snapshot in rebuilt_marts:
        # record_id, scrape_page_id lead cdx_records; content_id, scrape_page_id, cdx_record_id
        # lead content_analytics (the contracts' column order)
        assert all(row[0] == row[1] for row in snapshot["cdx_records"])
        assert all(row[0] == row[1] == row[2] for row in snapshot["content_analytics"])


def test_mart_sql_reads_no_clock() -> None:
    """Nothing in the marts' SQL depends on when or where it runs."""
    files = [
        PROJECT_ROOT / "models" / "intermediate" / "int_scrape_pages_enriched.sql",
        PROJECT_ROOT / "models" / "intermediate" / "int_scrape_pages_with_domain_parts.sql",
        PROJECT_ROOT / "models" / "marts" / "cdx_records.sql",
        PROJECT_ROOT / "models" / "marts" / "content_analytics.sql",
        *(PROJECT_ROOT / "macros" / f"{name}.sql" for name in DERIVATION_MACRO_FILES),
    ]
    clock_words = ("current_date", "current_timestamp", "now()", "get_current_time", "random(")
    for file in files:
        text = file.read_text(encoding="utf-8").lower()
        for word in clock_words:
            assert word not in text, (file.name, word)
