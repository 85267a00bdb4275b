"""deploy/grafana: the dashboard loads, is wired to the provisioned data source, and every
query reads metrics the engine really exports (events/metrics.py), with labels they have."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

import pytest

from tests.unit.deploy.compose_file import DASHBOARD, GRAFANA_PROVISIONING, load_compose, load_yaml
from tests.unit.deploy.promql import (
    TARGET_LABELS,
    engine_series,
    grouping_labels,
    selectors,
    with_grafana_variables,
)

#: Metrics the dashboard shows but the engine does not export yet: name -> labels. Each is a
#: proposal for events/metrics.py; its panels say "not exported yet" in their titles. Empty
#: now: alerts, dead letters, consumer lag and build info landed in events/metrics.py while the
#: dashboard was written. Remove an entry when its metric is exported (a test says so).
PROPOSED: Final[dict[str, frozenset[str]]] = {}

#: Series Prometheus makes itself for every target.
PROMETHEUS_OWN: Final = {"up": TARGET_LABELS}

#: What the issue asks the dashboard to show, as the metric that shows it.
REQUIRED: Final = {
    "decisions per second by outcome": "verdict_decisions_total",
    "decision latency percentiles": "verdict_decision_latency_seconds_bucket",
    "alerts by severity": "verdict_alerts_total",
    "triggers by code": "verdict_triggers_total",
    "dead letters": "verdict_dead_letters_total",
    "consumer lag": "verdict_consumer_lag_messages",
    "Redis latency": "verdict_feature_store_latency_seconds_bucket",
    "model version": "verdict_build_info",
}
NOT_EXPORTED_MARK: Final = "not exported yet"

PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def known() -> dict[str, frozenset[str]]:
    return {**PROPOSED, **PROMETHEUS_OWN, **engine_series()}  # what is exported wins


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for panel in dashboard["panels"]:
        flat.append(panel)
        flat.extend(panel.get("panels", []))  # panels of collapsed rows
    return [p for p in flat if p["type"] != "row"]


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
            assert inner, f"variable {variable['name']}: {query}"
            found.append((f"variable {variable['name']!r}", inner[1]))
    return found


def test_the_dashboard_is_provisioned_from_its_folder(dashboard: dict[str, Any]) -> None:
    providers = load_yaml(GRAFANA_PROVISIONING / "dashboards" / "verdict.yml")["providers"]
    path = providers[0]["options"]["path"]
    grafana = load_compose()["services"]["grafana"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"] if m.startswith(".")}
    assert mounts.get(path) == "./" + str(DASHBOARD.parent.relative_to(DASHBOARD.parents[3]))
    assert mounts.get("/etc/grafana/provisioning") == "./deploy/grafana/provisioning"
    assert dashboard["uid"] and dashboard["title"]


def test_every_panel_reads_the_provisioned_data_source(dashboard: dict[str, Any]) -> None:
    datasources = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    uid = datasources["datasources"][0]["uid"]
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid, variable["name"]


def test_panels_have_unique_ids_and_fit_the_grid(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel.get("targets") or panel["type"] == "row", f"{panel['title']}: no query"


def test_every_query_reads_metrics_the_engine_exports(
    dashboard: dict[str, Any], known: dict[str, frozenset[str]]
) -> None:
    unknown = [
        f"{where}: {selector.metric}"
        for where, expr in _queries(dashboard)
        for selector in selectors(expr)
        if selector.metric not in known
    ]
    assert unknown == [], "add them to events/metrics.py, or to PROPOSED here"


def test_every_label_a_query_names_belongs_to_its_metrics(
    dashboard: dict[str, Any], known: dict[str, frozenset[str]]
) -> None:
    wrong = []
    for where, expr in _queries(dashboard):
        found = selectors(expr)
        available = set(TARGET_LABELS).union(*(known.get(s.metric, set()) for s in found))
        for selector in found:
            labels = known.get(selector.metric, frozenset()) | TARGET_LABELS
            wrong += [f"{where}: {selector.metric}{{{lb}}}" for lb in selector.labels - labels]
        wrong += [f"{where}: by ({label})" for label in grouping_labels(expr) - available]
    assert wrong == []


def test_the_dashboard_shows_what_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    used = {s.metric for _, expr in _queries(dashboard) for s in selectors(expr)}
    assert [what for what, metric in REQUIRED.items() if metric not in used] == []


def test_panels_on_proposed_metrics_say_so(dashboard: dict[str, Any]) -> None:
    exported = engine_series()
    for panel in _panels(dashboard):
        metrics = {s.metric for t in panel["targets"] for s in selectors(t["expr"])}
        pending = sorted(m for m in metrics if m in PROPOSED and m not in exported)
        if pending:
            assert NOT_EXPORTED_MARK in panel["title"], f"{panel['title']}: {pending}"
        else:
            assert NOT_EXPORTED_MARK not in panel["title"], f"{panel['title']}: all exported"


def test_proposed_metrics_are_not_exported_already() -> None:
    exported = engine_series()
    landed = sorted(name for name in PROPOSED if name in exported)
    assert landed == [], f"exported now: remove {landed} from PROPOSED"


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not found: `apt-get install prometheus`")
def test_promtool_parses_every_query(dashboard: dict[str, Any], tmp_path: Path) -> None:
    # promtool has no query linter, but it parses the expression of every recording rule.
    rules = [
        {"record": f"dashboard:query_{index}", "expr": with_grafana_variables(expr)}
        for index, (_, expr) in enumerate(_queries(dashboard))
    ]
    path = tmp_path / "dashboard_rules.json"  # JSON is YAML
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
