"""``events ingest``: JSON Lines in, Parquet and a dead-letter file out; counts conserve."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chrono_analytics.errors import UserFacingError
from chrono_analytics.events import compact, read_sql, run_ingest
from chrono_analytics.events.cli import register
from chrono_analytics.events.ingest import MAX_LINE_BYTES


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="chrono-analytics")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def good(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "pipeline_stage",
        "event_timestamp": f"2024-03-05T09:{i:02d}:00Z",
        "source_component": "scrape_worker",
        "pipeline_stage": "fetch",
        "pipeline_status": "completed",
        "scrape_page_id": i,
        "duration_ms": 100 + i,
        "event_data": {"attempt": 1},
        **extra,
    }


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def mixed_input(tmp_path: Path) -> tuple[Path, list[tuple[int, bytes, str]]]:
    """Four good lines around six bad ones (and one blank); returns the expected rejects."""
    too_long = b'{"event_data": {"pad": "' + b"x" * MAX_LINE_BYTES + b'"}}'
    bad: dict[int, tuple[bytes, str]] = {
        2: (
            b'{"event_type": "pipeline_stage", ',
            "invalid JSON: Expecting property name enclosed in double quotes (column 33)",
        ),
        4: (
            json.dumps(good(4, event_severity="fatal")).encode(),
            "event_severity: 'fatal' is not one of 'debug', 'info', 'warning', 'error', 'critical'",
        ),
        5: (b"[1, 2, 3]", "expected a JSON object, got a JSON list"),
        6: (b'{"event_type": "error", "x": "\xff\xfe"}', "not valid UTF-8 (byte 31 of the line)"),
        8: (
            json.dumps({k: v for k, v in good(8).items() if k != "event_timestamp"}).encode(),
            "event_timestamp: required field is missing",
        ),
        9: (too_long, f"line is {len(too_long) + 1:,} bytes, over the 1,048,576-byte limit"),
        10: (
            json.dumps(good(10, event_timestamp="2024-03-05T09:10:00")).encode(),
            "event_timestamp: '2024-03-05T09:10:00' has no UTC offset; "
            "write it in UTC with 'Z' or '+00:00'",
        ),
    }
    lines: list[bytes] = []
    for number in range(1, 13):
        if number in bad:
            lines.append(bad[number][0] + b"\n")
        elif number == 7:
            lines.append(b"   \n")
        else:
            lines.append(line(good(number)))
    lines[-1] = lines[-1].rstrip(b"\n")  # the last line has no newline
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    expected = [(n, raw, reason) for n, (raw, reason) in sorted(bad.items())]
    return path, expected


def test_mixed_good_and_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, expected_rejects = mixed_input(tmp_path)
    root = tmp_path / "events"
    dead = tmp_path / "dead.jsonl"
    code = cli("events", "ingest", "--root", str(root), "--dead-letter", str(dead), str(source))
    out = capsys.readouterr().out
    assert code == 1
    assert out == (
        "events ingest: read 11, accepted 4, rejected 7, files written 1, "
        f"dead letter: {dead} (1 blank lines skipped)\n"
    )
    # the good lines around the bad ones are all there
    pages = duckdb.sql(f"select scrape_page_id from {read_sql(root)} order by 1").fetchall()
    assert [p[0] for p in pages] == [1, 3, 11, 12]

    records = [json.loads(x) for x in dead.read_text().splitlines()]
    assert len(records) == 7
    for record, (number, raw, reason) in zip(records, expected_rejects, strict=True):
        assert record["source"] == str(source)
        assert record["line_number"] == number
        assert record["reason"] == reason
        rejected_at = datetime.fromisoformat(record["rejected_at"])
        assert abs(rejected_at - datetime.now(UTC)) < timedelta(minutes=1)
        if number == 9:
            assert record["truncated"] is True
            assert record["line"] == raw[:1024].decode()
        else:
            assert "truncated" not in record
            assert record["line"] == raw.decode("utf-8", "backslashreplace")
    assert records[3]["line"] == '{"event_type": "error", "x": "\\xff\\xfe"}'


def test_reingesting_the_same_file_duplicates_nothing_after_dedupe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(line(good(i)) for i in range(1, 21)))
    root = tmp_path / "events"
    assert cli("events", "ingest", "--root", str(root), str(source)) == 0
    assert cli("events", "ingest", "--root", str(root), str(source)) == 0
    outs = capsys.readouterr().out.splitlines()
    assert (
        outs
        == ["events ingest: read 20, accepted 20, rejected 0, files written 1, dead letter: none"]
        * 2
    )
    assert not (root / "_dead_letter").exists()
    counts = duckdb.sql(f"select count(*), count(distinct event_id) from {read_sql(root)}")
    assert counts.fetchone() == (40, 20)
    report = compact(root, now=datetime(2024, 3, 6, tzinfo=UTC))
    assert (report.rows_read, report.rows_written) == (40, 20)
    counts = duckdb.sql(f"select count(*), count(distinct event_id) from {read_sql(root)}")
    assert counts.fetchone() == (20, 20)


def test_stdin_and_the_default_dead_letter_place(tmp_path: Path) -> None:
    root = tmp_path / "events"
    stdin = io.BytesIO(line(good(1)) + b"not json\n" + line(good(2)))
    report = run_ingest([], root, stdin=stdin)
    assert (report.read, report.accepted, report.rejected) == (3, 2, 1)
    assert report.dead_letter is not None
    assert report.dead_letter.parent == root / "_dead_letter"
    assert report.dead_letter.name.startswith("ingest-")
    (record,) = [json.loads(x) for x in report.dead_letter.read_text().splitlines()]
    assert record["source"] == "<stdin>" and record["line_number"] == 2
    assert record["line"] == "not json"


def test_event_values_never_become_paths(tmp_path: Path) -> None:
    root = tmp_path / "events"
    hostile = [
        good(1, source_component="../../../escape", event_subtype="/etc/passwd"),
        good(2, event_date="../../escape"),
        good(3, event_hour="../x"),
        good(4, event_id="../../escape"),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(line(r) for r in hostile))
    report = run_ingest([str(source)], root, dead_letter_path=tmp_path / "dead.jsonl")
    assert (report.read, report.accepted, report.rejected) == (4, 1, 3)
    everything = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_dir())
    assert everything == [
        "events",
        "events/_inflight",  # the writers' in-flight folder (empty: only its lock file)
        "events/event_date=2024-03-05",
        "events/event_date=2024-03-05/event_hour=9",
    ]


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match=r"input file not found: .*nope.jsonl; check"):
        cli("events", "ingest", "--root", str(tmp_path), str(tmp_path / "nope.jsonl"))


def test_defaults_from_options_and_progress_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = good(1)
    del record["source_component"]
    source = tmp_path / "in.jsonl"
    source.write_bytes(line(record) * 3)
    root = tmp_path / "events"
    code = cli(
        "events",
        "ingest",
        "--root",
        str(root),
        "--source-component",
        "importer",
        "--progress",
        str(source),
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "ingest: 100%" in captured.err  # tqdm's bar on stderr
    rows = duckdb.sql(f"select distinct source_component from {read_sql(root)}").fetchall()
    assert rows == [("importer",)]


def test_root_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHRONO_EVENTS_ROOT", raising=False)
    monkeypatch.setenv("CHRONO_LAKE_ROOT", str(tmp_path / "lake"))
    source = tmp_path / "in.jsonl"
    source.write_bytes(line(good(1)))
    assert cli("events", "ingest", str(source)) == 0
    assert len(list((tmp_path / "lake/raw/events").glob("*/*/*.parquet"))) == 1
    capsys.readouterr()


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, via: str) -> None:
    # Windows tools write a BOM before the first line; `cat a.jsonl b.jsonl` carries b's BOM
    # into the middle of the stream. U+FEFF can never begin a JSON text, so it is skipped.
    data = BOM + line(good(1)) + line(good(2)) + BOM + line(good(3)) + BOM + b"\n"
    root = tmp_path / "events"
    dead = tmp_path / "dead.jsonl"
    if via == "file":
        source = tmp_path / "in.jsonl"
        source.write_bytes(data)
        report = run_ingest([str(source)], root, dead_letter_path=dead)
    else:
        report = run_ingest(["-"], root, dead_letter_path=dead, stdin=io.BytesIO(data))
    assert (report.read, report.accepted, report.rejected, report.blank) == (3, 3, 0, 1)
    assert not dead.exists()
    pages = duckdb.sql(f"select scrape_page_id from {read_sql(root)} order by 1").fetchall()
    assert pages == [(1,), (2,), (3,)]
    # the BOM is not content: the ids are those of the same lines without it
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(data.replace(BOM, b""))
    run_ingest([str(plain)], tmp_path / "plain")
    ids = [
        duckdb.sql(f"select event_id from {read_sql(r)} order by 1").fetchall()
        for r in (root, tmp_path / "plain")
    ]
    assert ids[0] == ids[1]


def test_a_bom_inside_a_line_is_still_rejected(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"event_type": "error",' + BOM + b' "x": 1}\n')
    report = run_ingest([str(source)], tmp_path / "events", dead_letter_path=tmp_path / "d")
    assert (report.read, report.rejected) == (1, 1)
    (record,) = [json.loads(x) for x in (tmp_path / "d").read_text().splitlines()]
    assert record["reason"].startswith("invalid JSON: ")
