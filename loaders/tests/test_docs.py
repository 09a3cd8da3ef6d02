"""The dbt docs site builds, and every model, seed and column in it has a description."""

from __future__ import annotations

import json

from warehouse_helpers import PROJECT_ROOT, Warehouse


def test_docs_generate_and_every_model_and_column_is_described(
    built_warehouse: Warehouse,
) -> None:
    built_warehouse.dbt("docs", "generate")
    target = PROJECT_ROOT / "target"
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
