"""The dbt docs site builds, every model, seed and column in it has a description, and a real
browser (headless Chromium, installed by `make test`) shows the project's overview page, each
mart's description and every one of its columns with its description, and a mart's lineage
(the models it depends on and those that read it, and the lineage graph)."""

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

from warehouse_helpers import MARTS, TARGET, Warehouse


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


def page_text(page: str) -> str:
    """The text a reader sees: the page without its scripts (the site's bundle holds every
    template's text) and tags."""
    body = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return normalized(re.sub(r"<[^>]+>", " ", body))


GRAINS = {
    "cdx_records": "archived page:",
    "content_analytics": "archived page:",
    "project_analytics": "project, domain or scrape session (column",
    "events": "application event:",
    "content_quality_daily": "processing day and quality bucket:",
    "domain_archive_monthly": "domain, domain category and month of capture:",
    "system_performance_hourly": "UTC hour and source component:",
}


def test_the_docs_site_home_page_is_the_projects_overview(docs_site: DocsSite) -> None:
    text = page_text(rendered_page(f"{docs_site.url}/#!/overview"))
    assert "Welcome!" not in text  # dbt's generic home page
    for heading in ("Chrono Scraper analytics", "The marts", "How fresh it is", "How to query it"):
        assert heading in text, heading
    for mart, grain in GRAINS.items():  # the table of the marts: one row per ...
        assert f"{mart} {grain}" in text, mart
    assert "chrono-analytics sync status" in text
    assert "from chrono_analytics.lake.reader import Lake" in text
    assert "chrono-analytics lake query" in text
    assert "/api/v1/analytics" in text
    # the lineage picture, line for line as written
    assert "intermediate: int_scrape_pages_enriched" in text
    assert "domain_archive_monthly content_quality_daily system_performance_hourly" in text


def links_under(page: str, heading: str) -> list[str]:
    """The model names listed in the model page's section `heading` ('Depends On', ...)."""
    body = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    start = body.index(f"<h6>{heading}</h6>")
    section = body[start : body.index("</section>", start)]
    return re.findall(r' href="#!/model/model\.chrono_analytics\.(\w+)[?"]', section)


def test_the_docs_site_shows_the_lineage_of_a_mart(docs_site: DocsSite) -> None:
    page = rendered_page(f"{docs_site.url}/#!/model/model.chrono_analytics.content_analytics?g_v=1")
    assert links_under(page, "Depends On") == ["int_scrape_pages_enriched"]
    assert sorted(links_under(page, "Referenced By")) == [
        "content_quality_daily",
        "domain_archive_monthly",
        "project_activity_daily",
        "project_analytics",
        "project_performance_daily",
    ]
    # the lineage graph is open full screen and drew its nodes
    assert re.search(r'class="launcher[^"]* on" data-launcher="fullscreen"', page), "graph closed"
    node_layer = re.search(r'<canvas[^>]*data-id="layer2-node" width="(\d+)" height="(\d+)"', page)
    assert node_layer and int(node_layer[1]) > 0 and int(node_layer[2]) > 0, "no graph drawn"
