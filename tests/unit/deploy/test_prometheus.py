"""deploy/prometheus/prometheus.yml: promtool accepts it, and it scrapes every worker.

promtool comes with Debian's `prometheus` package (`apt-get install prometheus`); without
it the promtool checks skip and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from decisions.api import ApiSettings
from tests.unit.deploy.compose_file import (
    GRAFANA_PROVISIONING,
    PROMETHEUS_CONFIG,
    environment,
    load_compose,
    load_yaml,
    workers,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not found: `apt-get install prometheus` (Debian) provides it",
)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def _verdict_job(config: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = next(j for j in config["scrape_configs"] if j["job_name"] == "verdict")
    return job


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_accepts_the_syntax() -> None:
    result = _promtool("check", "config", "--syntax-only", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_whole_config(config: dict[str, Any], tmp_path: Path) -> None:
    # A full check also opens the files the config names; the token file only exists inside
    # the container (a compose secret), so point a copy at a stand-in.
    secret = _verdict_job(config)["authorization"]["credentials_file"]
    token = tmp_path / "verdict_api_token"
    token.write_text("test-token")
    copy = tmp_path / "prometheus.yml"
    copy.write_text(PROMETHEUS_CONFIG.read_text(encoding="utf-8").replace(secret, str(token)))
    result = _promtool("check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_worker_is_scraped_on_the_api_port(
    config: dict[str, Any], compose: dict[str, Any]
) -> None:
    job = _verdict_job(config)
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    port = ApiSettings().port  # the workers do not set VERDICT_API__PORT
    assert all("VERDICT_API__PORT" not in environment(w) for w in workers(compose).values())
    assert targets == {f"{name}:{port}" for name in workers(compose)}
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_the_scrape_sends_the_token_the_workers_ask_for(
    config: dict[str, Any], compose: dict[str, Any]
) -> None:
    authorization = _verdict_job(config)["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    secret_name = Path(authorization["credentials_file"]).name
    assert authorization["credentials_file"] == f"/run/secrets/{secret_name}"
    assert secret_name in compose["services"]["prometheus"]["secrets"]
    source = compose["secrets"][secret_name]["environment"]
    for name, worker in workers(compose).items():
        assert f"{source}" in environment(worker), f"{name} does not read {source}"


def test_grafana_rate_intervals_follow_the_scrape_interval(config: dict[str, Any]) -> None:
    datasources = load_yaml(GRAFANA_PROVISIONING / "datasources" / "prometheus.yml")
    prometheus = next(d for d in datasources["datasources"] if d["type"] == "prometheus")
    assert prometheus["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]
    assert prometheus["url"] == "http://prometheus:9090"
