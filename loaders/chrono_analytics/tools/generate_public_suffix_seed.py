"""Regenerate ``seeds/public_suffix_rules.csv`` from the Public Suffix List.

The list comes from the ``publicsuffixlist`` package on PyPI, which ships Mozilla's
``public_suffix_list.dat``. Only the ICANN section is used (suffixes under which the public
can register names: ``com``, ``co.uk``, ``gov.uk``, ``ac.uk``, ``com.au`` ...); the private
section (``blogspot.com``, ``github.io`` ...) is left out, so a page on ``x.github.io`` belongs
to the registrable domain ``github.io``.

Each suffix string becomes one row ``suffix,is_rule,is_wildcard_parent,is_exception,label_form``
saying which rules of the list name it (the models join a host's candidate suffixes on it):

- rule ``co.uk`` -> ``co.uk,true,false,false,ascii``
- rule ``*.ck`` (every label under ``ck`` is a suffix) -> ``ck,false,true,false,ascii``
- rule ``!www.ck`` (an exception to a wildcard) -> ``www.ck,false,false,true,ascii``

A suffix with non-ASCII labels is written twice, in Unicode (as listed) and in punycode
(``xn--...``), because page hosts arrive in either form and are matched as they arrive.

Usage, from the project root (no install needed)::

    pip download --no-deps -d /tmp/psl publicsuffixlist==1.1.2.20261023
    python -m chrono_analytics.tools.generate_public_suffix_seed --source /tmp/psl/*.whl

``--source`` takes the wheel, or a ``public_suffix_list.dat`` file; without it the file of an
installed ``publicsuffixlist`` package is used.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chrono_analytics.config import project_root

DAT_NAME = "public_suffix_list.dat"
ICANN_BEGIN = "// ===BEGIN ICANN DOMAINS==="
ICANN_END = "// ===END ICANN DOMAINS==="
HEADER = ("suffix", "is_rule", "is_wildcard_parent", "is_exception", "label_form")
RULE_TYPES = ("normal", "wildcard", "exception")


class SeedError(Exception):
    """What went wrong and how to fix it, in one line."""


@dataclass(frozen=True, order=True)
class SuffixRule:
    """One rule of the list, in one label form."""

    suffix: str
    rule_type: str
    label_form: str


@dataclass(frozen=True, order=True)
class SuffixRow:
    """One row of the seed: a suffix string and the kinds of rule that name it."""

    suffix: str
    label_form: str
    rule_types: frozenset[str]

    def as_csv(self) -> tuple[str, ...]:
        flags = tuple("true" if kind in self.rule_types else "false" for kind in RULE_TYPES)
        return (self.suffix, *flags, self.label_form)


def read_list_text(source: Path | None) -> str:
    """The text of public_suffix_list.dat from a wheel, a .dat file or the installed package."""
    if source is None:
        spec = importlib.util.find_spec("publicsuffixlist")
        if spec is None or spec.origin is None:
            raise SeedError(
                "publicsuffixlist is not installed: pass --source with its wheel "
                "(pip download --no-deps publicsuffixlist) or a public_suffix_list.dat file"
            )
        source = Path(spec.origin).parent / DAT_NAME
    if not source.is_file():
        raise SeedError(f"{source} does not exist")
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            names = [name for name in wheel.namelist() if name.endswith("/" + DAT_NAME)]
            if not names:
                raise SeedError(f"{source} holds no {DAT_NAME}")
            return wheel.read(names[0]).decode("utf-8")
    return source.read_text(encoding="utf-8")


def icann_rules(list_text: str) -> Iterator[str]:
    """The rules of the ICANN section, lower-cased, in the order of the list."""
    inside = False
    seen_section = False
    for raw_line in list_text.splitlines():
        line = raw_line.strip()
        if line.startswith(ICANN_BEGIN):
            inside = seen_section = True
            continue
        if line.startswith(ICANN_END):
            inside = False
            continue
        if not inside or not line or line.startswith("//"):
            continue
        # A rule is the first whitespace-separated token of its line.
        yield line.split()[0].lower()
    if not seen_section:
        raise SeedError("the list has no ICANN section: is this public_suffix_list.dat?")


def to_punycode(suffix: str) -> str:
    """The ASCII (IDNA) form of a dotted suffix: each non-ASCII label becomes xn--<punycode>."""
    labels = []
    for label in suffix.split("."):
        if label.isascii():
            labels.append(label)
        else:
            labels.append("xn--" + label.encode("punycode").decode("ascii"))
    return ".".join(labels)


def rule_rows(rule: str) -> list[SuffixRule]:
    """One rule in its label forms: one for an ASCII rule, Unicode and punycode for an IDN rule."""
    if rule.startswith("!"):
        rule_type, suffix = "exception", rule[1:]
    elif rule.startswith("*."):
        rule_type, suffix = "wildcard", rule[2:]
    else:
        rule_type, suffix = "normal", rule
    if "*" in suffix or "!" in suffix or not suffix:
        raise SeedError(f"unsupported rule {rule!r}: only leading '*.' and '!' are expected")
    if suffix.isascii():
        return [SuffixRule(suffix, rule_type, "ascii")]
    return [
        SuffixRule(suffix, rule_type, "unicode"),
        SuffixRule(to_punycode(suffix), rule_type, "punycode"),
    ]


def seed_rows(rules: Iterable[str]) -> list[SuffixRow]:
    """One row per suffix string, sorted so that the file diffs well between list versions."""
    kinds: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for entry in rule_rows(rule):
            kinds.setdefault((entry.suffix, entry.label_form), set()).add(entry.rule_type)
    return sorted(
        SuffixRow(suffix, label_form, frozenset(types))
        for (suffix, label_form), types in kinds.items()
    )


def write_seed(rows: Sequence[SuffixRow], target: Path) -> None:
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(row.as_csv())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--source",
        type=Path,
        help="publicsuffixlist wheel or public_suffix_list.dat (default: the installed package)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=project_root() / "seeds" / "public_suffix_rules.csv",
        help="seed file to write (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        rows = seed_rows(icann_rules(read_list_text(args.source)))
    except SeedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_seed(rows, args.output)
    counts = {kind: sum(kind in row.rule_types for row in rows) for kind in RULE_TYPES}
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    print(f"wrote {len(rows)} rows to {args.output} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
