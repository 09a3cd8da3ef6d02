"""The dbt docs site builds, every model, seed and column in it has a description, and a real
browser (headless Chromium, installed by `make test`) shows each mart's description and every
one of its columns with its description."""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from warehouse_helpers import TARGET, Warehouse

MARTS = (
    "cdx_records",
    "content_analytics",
    "project_analytics",
    "events",
    "content_quality_daily",
    "domain_archive_monthly",
    "system_performance_hourly",
    "project_performance_daily",
    "project_activity_daily",
    "domain_archive_summary",
    "performance_daily",
    "project_members",
)


def test_docs_generate_and_every_model_and_column_is_described(
    built_warehouse: Warehouse,
) -> None:
    built_warehouse.dbt("docs", "generate")
    target = TARGET
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").is_file()
    undescribed = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed") or node["package_name"] != (
            "chrono_analytics"
        ):
            continue
        if not node["description"].strip():
            undescribed.append(unique_id)
        built_columns = catalog["nodes"].get(unique_id, {}).get("columns", {})
        assert built_columns, f"{unique_id} is missing from the catalog"
        for column in built_columns:
            described = node["columns"].get(column.lower(), {}).get("description", "")
            if not described.strip():
                undescribed.append(f"{unique_id}.{column}")
    assert undescribed == []


class ColumnRows(HTMLParser):
    """The rows of the columns table of a model page: [name, type, description, ...] texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cells: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "tr" and "column-row" in classes:
            self._cells = []
        elif self._cells is not None and tag == "td":
            self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._cells is not None:
            self.rows.append([normalized(cell) for cell in self._cells])
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data


def normalized(text: str) -> str:
    return " ".join(html.unescape(text).split())


@dataclass(frozen=True)
class DocsSite:
    url: str
    manifest: dict[str, Any]


@pytest.fixture(scope="module")
def docs_site(
    built_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DocsSite]:
    """The generated site, served over HTTP (the site fetches its JSON files)."""
    target: Path = tmp_path_factory.mktemp("docs_site")
    built_warehouse.dbt("docs", "generate", "--target-path", str(target))
    handler = functools.partial(QuietHandler, directory=str(target))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield DocsSite(
            f"http://127.0.0.1:{server.server_address[1]}",
            json.loads((target / "manifest.json").read_text()),
        )
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def rendered_page(url: str) -> str:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: `make test` installs it (tools/ensure_chromium.sh)"
    result = subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("mart", MARTS)
def test_the_docs_site_shows_each_mart_and_every_column_with_its_description(
    docs_site: DocsSite, mart: str
) -> None:
    node = docs_site.manifest["nodes"][f"model.chrono_analytics.{mart}"]
    page = rendered_page(f"{docs_site.url}/#!/model/model.chrono_analytics.{mart}")
    text = normalized(re.sub(r"<[^>]+>", " ", page))
    assert normalized(node["description"])[:200] in text, f"{mart}: description not shown"
    parser = ColumnRows()
    parser.feed(page)
    shown = {row[0]: row[2] for row in parser.rows if len(row) >= 3}
    expected = {name: normalized(column["description"]) for name, column in node["columns"].items()}
    assert set(shown) == set(expected), f"{mart}: columns shown differ from the yml"
    for name, description in expected.items():
        assert description, f"{mart}.{name} has no description"
        assert shown[name] == description, f"{mart}.{name}: shows {shown[name]!r}"
