"""The Grafana dashboard charts exactly the metrics the code defines (no typo, no forgotten metric)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

import services.common.metrics  # noqa: F401  (registers the collectors)

DASHBOARD = Path(__file__).resolve().parents[3] / "helm" / "deskpilot" / "dashboards" / "deskpilot.json"
_METRIC = re.compile(r"\bdeskpilot_[a-z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def _panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(_panels(panel))
    return found


def _expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", []) if t.get("expr")]


def _defined() -> dict[str, set[str]]:
    """Each deskpilot metric family and the sample names Prometheus scrapes for it."""
    families: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("deskpilot_"):
            families[family.name] = {family.name + s for s in _SUFFIXES[family.type]}
    return families


def test_dashboard_queries_only_name_metrics_that_exist() -> None:
    scraped = set().union(*_defined().values())
    referenced = {name for expr in _expressions() for name in _METRIC.findall(expr)}
    assert referenced, "the dashboard has no deskpilot queries"
    assert referenced <= scraped, f"unknown metrics in the dashboard: {sorted(referenced - scraped)}"


def test_every_defined_metric_has_a_panel() -> None:
    referenced = {name for expr in _expressions() for name in _METRIC.findall(expr)}
    missing = [family for family, names in _defined().items() if not names & referenced]
    assert len(_defined()) >= 14
    assert missing == [], f"metrics without a dashboard panel: {missing}"


def test_dashboard_is_grafana_shaped_with_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] == "Deskpilot"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")")
