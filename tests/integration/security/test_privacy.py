"""No raw customer, card or account identifier in alerts, logs or metrics; no secret in logs.

Transactions whose identifiers are easy to spot (customer ids, terminals, devices, IBAN-like
counterparties, IP addresses) go through

- a ``verdict serve`` worker in a process of its own, configured by environment (token and
  pseudonym key included): its ``alerts`` topic, its log and its ``/metrics`` page are scanned;
- the API served in this process: what it logs (caplog, every level), the alerts it hands to
  the broker and its ``/metrics`` page are scanned.

Some of the transactions are large enough to be declined, so there are alerts to scan.
"""

from __future__ import annotations

import logging
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
import redis

from events import topics
from replay.producer import replay_files
from state.settings import RedisSettings
from streams.admin import ensure_topics
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import start_test_broker, unique_topic
from tests.integration.security.live_api import AUTH, LiveApi
from tests.integration.streams.workers import ServeProcess, read_topic, wait_until, write_lines

T0: Final = 1_772_445_600
SECRET_TOKEN: Final = "worker-token-Hq7Z2"
SECRET_KEY: Final = "worker-pseudonym-key-Xv93"
DECLINED_EVERY: Final = 5  # one transaction in five is above the policy's amount limit


def _transactions(n: int) -> list[dict[str, Any]]:
    txs = []
    for i in range(n):
        txs.append(
            {
                "tx_id": f"tx-{i:04d}",
                "ts": T0 + i * 60,
                "customer_id": f"CUSTRAW{i % 6:03d}",
                "amount": 75_000.0 if i % DECLINED_EVERY == 0 else 20.0 + i,
                "terminal_id": f"TERMRAW{i % 4:03d}",
                "device_id": f"DEVRAW{i % 3:03d}",
                "counterparty_id": f"FR76300060000{i % 5:014d}",
                "ip": f"203.0.113.{10 + i % 7}",
                "country": "FR",
            }
        )
    return txs


def _raw_identifiers(txs: list[dict[str, Any]]) -> set[str]:
    fields = ("customer_id", "terminal_id", "device_id", "counterparty_id", "ip")
    return {str(tx[field]) for tx in txs for field in fields}


def _leaks(text: str, raw: set[str]) -> list[str]:
    return sorted(value for value in raw if value in text)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    process, settings = start_test_broker(tmp_path_factory.mktemp("privacy-broker"))
    ensure_topics(settings, topics.ALL_TOPICS)
    try:
        yield settings
    finally:
        process.stop()


def test_a_worker_leaks_no_identifier_and_no_secret(
    broker: KafkaSettings, redis_settings: RedisSettings, redis_client: redis.Redis, tmp_path: Path
) -> None:
    txs = _transactions(60)
    declined = {tx["tx_id"] for tx in txs if tx["amount"] > 50_000}
    worker = ServeProcess(
        broker,
        redis_settings.url,
        unique_topic("privacy"),
        tmp_path / "w",
        tmp_path / "worker.log",
        env={"VERDICT_API__TOKEN": SECRET_TOKEN, "VERDICT_API__PSEUDONYM_KEY": SECRET_KEY},
    ).start()
    url = f"http://127.0.0.1:{worker.port}"
    try:
        wait_until(lambda: _get(f"{url}/healthz")[0] == 200, 60, "the worker's API")
        path = write_lines(tmp_path / "transactions.jsonl", (orjson.dumps(tx) for tx in txs))
        replay_files([path], broker.bootstrap_servers, validate=False)
        alerts = read_topic(
            broker, topics.ALERTS, lambda found: declined <= {a["tx_id"] for a in found}, 90
        )
        for customer in ("CUSTRAW000", "CUSTRAW999"):  # a known and an unknown customer
            _get(f"{url}/v1/customers/{customer}/features", SECRET_TOKEN)
            _get(f"{url}/v1/customers/{customer}/features", "a-wrong-token")
        status, exposition = _get(f"{url}/metrics", SECRET_TOKEN)
        assert status == 200 and "verdict_decisions_total" in exposition
    finally:
        worker.signal(signal.SIGTERM)
        worker.wait(timeout_s=60)
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    raw = _raw_identifiers(txs)
    assert "API on http://" in log  # the worker's log is there to scan
    assert {a["tx_id"] for a in alerts} >= declined
    assert all(a["customer_ref"].startswith("cr_") for a in alerts)
    assert _leaks(orjson.dumps(alerts).decode(), raw) == []
    assert _leaks(exposition, raw) == []
    assert _leaks(log, raw) == [], log[-3000:]
    assert SECRET_TOKEN not in log and SECRET_KEY not in log
    assert SECRET_TOKEN not in exposition and SECRET_KEY not in exposition


def test_the_api_leaks_no_identifier_in_logs_alerts_or_metrics(
    live: LiveApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    txs = _transactions(40)
    headers = {**AUTH, "Content-Type": "application/json"}
    for tx in txs:
        assert live.request("POST", "/v1/decisions", orjson.dumps(tx), headers).status == 200
        broken = {**tx, "amount": -1, "ts": "soon"}  # refused: the error must not echo ids
        assert live.request("POST", "/v1/decisions", orjson.dumps(broken), headers).status == 422
    label = {"tx_id": "tx-0000", "is_fraud": True, "ts": T0 + 9_000, "source": "analyst",
             "customer_id": "CUSTRAW000"}  # fmt: skip
    assert live.request("POST", "/v1/labels", orjson.dumps(label), headers).status == 202
    profile = {"home_country": "FR", "marketing_consent": False}
    assert live.request("PUT", "/v1/customers/CUSTRAW001", orjson.dumps(profile), headers).status
    assert live.request("GET", "/v1/customers/CUSTRAW001/features", headers=AUTH).status == 200
    exposition = live.request("GET", "/metrics", headers=AUTH).body.decode()
    alerts = [orjson.loads(v) for t, _, v in live.sink.events if t == topics.ALERTS]
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    raw = _raw_identifiers(txs)
    assert "verdict_decisions_total" in exposition and caplog.records
    assert {a["tx_id"] for a in alerts} >= {tx["tx_id"] for tx in txs if tx["amount"] > 50_000}
    assert _leaks(orjson.dumps(alerts).decode(), raw) == []
    assert all(key != b"" and key.decode() not in raw for t, key, _ in live.sink.events
               if t == topics.ALERTS)  # fmt: skip
    assert _leaks(exposition, raw) == []
    assert _leaks(logged, raw) == []
