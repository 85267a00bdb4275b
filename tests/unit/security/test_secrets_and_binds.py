"""Secrets come from the environment, are held as ``SecretStr`` and never shown or logged;
servers bind to loopback unless told otherwise; pseudonyms cannot be reversed without the key."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, SecretStr

from decisions.alerts import build_alert, pseudonym
from decisions.api import ApiSettings
from events.outputs import Decision
from state.settings import RedisSettings
from streams.settings import KafkaSettings
from tests.unit.security.api_harness import TX, served
from verdict.embedded import EmbeddedBroker, EmbeddedRedis
from verdict.services import loopback_bind_host
from verdict.settings import Settings, StackSettings

TOKEN = "tok-Zq81-from-the-env"
KEY = "key-Pw47-from-the-env"
#: Setting names that hold a secret.
SECRET_NAME = re.compile(r"token|password|secret|(^|_)key$")


@pytest.fixture
def env_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings read from the environment, with a token and a pseudonym key in it."""
    monkeypatch.setenv("VERDICT_API__TOKEN", TOKEN)
    monkeypatch.setenv("VERDICT_API__PSEUDONYM_KEY", KEY)
    return Settings()


def _secret_fields(model: BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += _secret_fields(value, f"{prefix}{name}.")
        elif SECRET_NAME.search(name):
            found.append((f"{prefix}{name}", value))
    return found


def test_secrets_come_from_the_environment_as_secret_str(env_settings: Settings) -> None:
    fields = dict(_secret_fields(env_settings))
    assert set(fields) >= {"api.token", "api.pseudonym_key"}
    assert all(value is None or isinstance(value, SecretStr) for value in fields.values())
    assert env_settings.api.token is not None
    assert env_settings.api.token.get_secret_value() == TOKEN
    assert env_settings.api.pseudonym_key.get_secret_value() == KEY
    assert ApiSettings().token is None  # no token is built in


def test_settings_never_show_their_secrets(env_settings: Settings) -> None:
    shown = [
        repr(env_settings),
        str(env_settings),
        env_settings.model_dump_json(),
        str(env_settings.model_dump()),
        repr(env_settings.api),
    ]
    for text in shown:
        assert TOKEN not in text and KEY not in text


async def test_the_api_never_logs_its_secrets(
    env_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with served(env_settings.api) as api:
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"Authorization": "Bearer x"}):
            await api.client.post("/v1/decisions", data=orjson.dumps(TX), headers=headers)
            await api.client.post("/v1/decisions", data=b"{bad", headers=headers)
        metrics = await (
            await api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        ).text()
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert TOKEN not in logged and KEY not in logged
    assert TOKEN not in metrics and KEY not in metrics


def test_the_api_binds_to_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ipaddress.ip_address(ApiSettings().host).is_loopback
    assert ipaddress.ip_address(Settings().api.host).is_loopback
    monkeypatch.setenv("VERDICT_API__HOST", "0.0.0.0")
    assert Settings().api.host == "0.0.0.0"  # only when told to


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "kafka.internal", "192.168.0.7"])
def test_the_embedded_services_never_bind_beyond_loopback(host: str) -> None:
    assert loopback_bind_host(host) is None


def test_the_embedded_services_bind_loopback_by_default(tmp_path: Path) -> None:
    stack = StackSettings(home=tmp_path)
    broker = EmbeddedBroker(KafkaSettings(), stack)
    redis = EmbeddedRedis(RedisSettings(), stack)
    for service in (broker, redis):
        bind = loopback_bind_host(service.host)
        assert bind is not None and ipaddress.ip_address(bind).is_loopback
    broker_bind = loopback_bind_host(broker.host)
    assert broker_bind is not None
    listener = [arg for arg in _command(broker, broker_bind) if arg.startswith("tcp://")]
    assert listener and all(f"tcp://{broker_bind}:" in arg for arg in listener)


def _command(broker: EmbeddedBroker, bind: str) -> list[str]:
    try:
        return broker.command(bind)
    except Exception as error:  # the embedded extra may be missing here: nothing to check
        pytest.skip(f"embedded broker unavailable: {error}")


def test_the_stream_worker_opens_no_web_server_of_its_own(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from events.metrics import Metrics
    from streams.app import Topology
    from streams.settings import StreamSettings

    stream = StreamSettings(data_dir=str(tmp_path / "w"))
    steps = SimpleNamespace(score=list, learn=list, customers=list)  # never run: not started
    metrics = Metrics(CollectorRegistry())
    topology = Topology(KafkaSettings(), stream, steps, None, metrics)  # type: ignore[arg-type]
    assert topology.app.conf.web_enabled is False


def _decline(customer_id: str) -> Decision:
    return Decision(
        tx_id="t1",
        customer_id=customer_id,
        ts=1.77e9,
        outcome="decline",
        fraud_score=0.97,
        anomaly_score=0.4,
        features={"amount": 900.0},
    )


@pytest.mark.parametrize("customer_id", ["c42", "customer-000123", "FR7630006000011234567890189"])
def test_pseudonyms_are_keyed_and_do_not_contain_the_id(customer_id: str) -> None:
    ref = pseudonym(customer_id, b"key-one")
    assert re.fullmatch(r"cr_[0-9a-f]{24}", ref)
    assert customer_id not in ref
    assert pseudonym(customer_id, b"key-one") == ref  # stable: analysts can group alerts
    assert pseudonym(customer_id, b"key-two") != ref  # keyed: another key, another ref
    unkeyed = hashlib.sha256(customer_id.encode()).hexdigest()
    assert unkeyed[:24] not in ref  # not a plain hash anyone could recompute
    alert = build_alert(_decline(customer_id), b"key-one")
    assert alert is not None and alert.customer_ref == ref
    assert customer_id not in alert.model_dump_json()


def test_without_the_key_a_dictionary_of_ids_does_not_reverse_a_pseudonym() -> None:
    ids = [f"c{i:05d}" for i in range(5000)]
    secret_refs = {pseudonym(i, KEY.encode()) for i in ids}
    for guess in (b"", b"verdict-development-key", b"key", KEY.encode()[:-1]):
        assert not secret_refs & {pseudonym(i, guess) for i in ids}
