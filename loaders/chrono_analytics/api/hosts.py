"""The domain and domain category of a URL, in Python: what the PostgreSQL backend of the
analytics API groups pages by (the warehouse derives the same values in SQL, in
int_scrape_pages_enriched and int_scrape_pages_with_domain_parts; the parity test holds the
two to each other).

The rules are the warehouse's (macros/url_parsing.sql, public_suffix.sql and
domain_category.sql): the host is the URL's
authority without scheme, user info, port and trailing dots, lower-cased; its category comes
from its public suffix (the seeds public_suffix_rules and domain_category_suffixes):
gov, mil and gov.<cc> are government, edu, edu.<cc> and ac.<cc> educational, org and org.<cc>
nonprofit, any other host commercial.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

_ENDS = r"/?#\\"
_IN_AUTHORITY = rf"[^{_ENDS}]*@"
_PAST_AUTHORITY = (
    rf"(?:[^{_ENDS}]*@)?[^:{_ENDS}@\[]*:(?:[^{_ENDS}@]*[^0-9{_ENDS}@]|[0-9]{{6}})[^@]*@"
)
_USER_INFO = rf"(?:(?:{_PAST_AUTHORITY})+(?:{_IN_AUTHORITY})?|{_IN_AUTHORITY})"
_EMBEDDED_START = r":[/\\]{2,}|(?:^|[^a-z0-9+.-])(?:https?|ftp|wss?):[/\\]*"
# a URL's user info (and that of URLs embedded in it), as the warehouse removes it
_USER_INFO_RE = re.compile(
    rf"(^(?:mailto|news|xmpp|sips?):)|({_EMBEDDED_START}|^[/\\]{{2}}|^){_USER_INFO}", re.I
)
_SCHEME_RE = re.compile(r"^(?:(?:https?|ftp|wss?):[/\\]+|[a-z0-9+.-]+:[/\\]{2}|[/\\]{2})", re.I)
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")
_IP_HOST_RE = re.compile(r"[0-9.]*")
_COUNTRY_CODE_RE = re.compile(r"[a-z]{2}")
LOOKUP_DEPTH = 4


def url_host(url: str | None) -> str | None:
    """The host of a URL: lower-cased, without user info, port and trailing dots; None when
    empty."""
    if url is None:
        return None
    without_user_info = _USER_INFO_RE.sub(lambda m: (m.group(1) or "") + (m.group(2) or ""), url)
    after_scheme = _SCHEME_RE.sub("", without_user_info, count=1)
    authority = _AUTHORITY_END_RE.split(after_scheme, maxsplit=1)[0]
    last = authority.split("@")[-1]
    host = last.split("]")[0] + "]" if last.startswith("[") else last.split(":")[0]
    host = host.lower().rstrip(".")
    return host or None


class DomainCategories:
    """Public suffix and domain category of hosts, from the project's seeds."""

    def __init__(self, seeds: Path) -> None:
        self.rules: dict[str, tuple[bool, bool, bool]] = {}
        with open(seeds / "public_suffix_rules.csv", newline="") as file:
            for row in csv.DictReader(file):
                self.rules[row["suffix"]] = (
                    row["is_rule"].lower() == "true",
                    row["is_wildcard_parent"].lower() == "true",
                    row["is_exception"].lower() == "true",
                )
        with open(seeds / "domain_category_suffixes.csv", newline="") as file:
            self.categories = {
                row["suffix_pattern"]: row["domain_category"] for row in csv.DictReader(file)
            }
        self.category = functools.lru_cache(maxsize=65536)(self._category)

    def public_suffix(self, host: str) -> str | None:
        if host.startswith("[") or _IP_HOST_RE.fullmatch(host):
            return None
        labels = host.split(".")
        count = len(labels)

        def match(n: int) -> tuple[bool, bool, bool]:
            if count < n:
                return (False, False, False)
            return self.rules.get(".".join(labels[-n:]), (False, False, False))

        m = {n: match(n) for n in range(1, LOOKUP_DEPTH + 1)}
        if m[4][2]:
            suffix_labels = 3
        elif m[3][2]:
            suffix_labels = 2
        elif m[2][2]:
            suffix_labels = 1
        elif m[4][0] or (m[3][1] and count >= 4):
            suffix_labels = 4
        elif m[3][0] or (m[2][1] and count >= 3):
            suffix_labels = 3
        elif m[2][0] or (m[1][1] and count >= 2):
            suffix_labels = 2
        else:
            suffix_labels = 1
        if count < suffix_labels:
            return None
        return ".".join(labels[-suffix_labels:])

    def _category(self, host: str) -> str:
        suffix = self.public_suffix(host)
        key = suffix
        if suffix is not None and "." in suffix:
            parts = suffix.split(".")
            if _COUNTRY_CODE_RE.fullmatch(parts[-1]):
                key = parts[-2] + ".<cc>"
        return self.categories.get(key or "", "commercial")
