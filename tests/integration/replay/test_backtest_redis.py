"""verdict backtest on the real Redis: the same decisions as in memory, from an empty database."""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from typer.testing import CliRunner

from models.registry import ModelRegistry, code_digest
from models.settings import ModelSettings
from replay.simulator import SimulationConfig, simulate
from state.settings import RedisSettings
from verdict.cli import app
from verdict.wiring import SUITE_ROLE, new_suite


def run(folder: Path, state: str, *extra: str) -> tuple[Any, list[dict[str, Any]]]:
    out = folder / f"decisions-{state}.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "backtest", str(folder / "transactions.jsonl"),
            "--labels", str(folder / "labels.jsonl"),
            "--customers", str(folder / "customers.jsonl"),
            "--out", str(out), "--state", state, "--no-progress", *extra,
        ],
    )  # fmt: skip
    decisions = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    for decision in decisions:
        decision.pop("latency_ms")  # wall clock: the only thing allowed to differ
    return result, decisions


def test_a_backtest_on_redis_decides_exactly_as_in_memory(
    tmp_path: Path,
    redis_settings: RedisSettings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = SimulationConfig(customers=40, terminals=80, days=8, seed=2, label_delay_s=86_400)
    simulate(config, tmp_path, progress=False)
    monkeypatch.setenv("VERDICT_REDIS__URL", redis_settings.url)
    on_redis, decided = run(tmp_path, "redis", "--feedback", "5")
    assert on_redis.exit_code == 0, on_redis.output
    in_memory, expected = run(tmp_path, "memory", "--feedback", "5")
    assert in_memory.exit_code == 0, in_memory.output
    assert len(decided) == len(expected) > 100
    assert decided == expected
    assert redis_client.dbsize() > 0  # the state is in Redis, left there to look at
    assert "card precision@100" in on_redis.output

    again, _ = run(tmp_path, "redis")  # a backtest starts from empty state...
    assert again.exit_code == 2
    assert "--flush" in again.output
    registry = ModelRegistry(redis_client, ModelSettings().registry_prefix)
    registry.publish(SUITE_ROLE, new_suite(ModelSettings()), code=code_digest(), labels=1)
    flushed, same = run(tmp_path, "redis", "--feedback", "5", "--flush")  # ...or empties it
    # first: a model another run published is not resumed, the backtest starts cold
    assert flushed.exit_code == 0, flushed.output
    assert same == expected


def test_two_processes_on_redis_decide_exactly_as_one(
    tmp_path: Path, redis_settings: RedisSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feature stage keeps the features in Redis; the caps and lists the engine asks stay
    with the decisions: the same decisions as one process, and as in memory."""
    config = SimulationConfig(customers=40, terminals=80, days=8, seed=3, label_delay_s=86_400)
    simulate(config, tmp_path, progress=False)
    monkeypatch.setenv("VERDICT_REDIS__URL", redis_settings.url)
    paired, decided = run(tmp_path, "redis", "--processes", "2", "--flush")
    assert paired.exit_code == 0, paired.output
    assert "2 processes" in paired.output
    alone, expected = run(tmp_path, "redis", "--processes", "1", "--flush")
    assert alone.exit_code == 0, alone.output
    assert len(decided) == len(expected) > 100
    assert decided == expected
    in_memory, same = run(tmp_path, "memory", "--processes", "2")
    assert in_memory.exit_code == 0, in_memory.output
    assert same == expected


def _list_lookups(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_smismember", {}).get("calls", 0))


def test_a_backtest_on_redis_keeps_its_lists_in_the_process(
    tmp_path: Path,
    redis_settings: RedisSettings,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backtest starts from an empty database and nothing edits its lists meanwhile: they
    answer from the process, without a round trip to Redis per batch."""
    config = SimulationConfig(customers=40, terminals=80, days=6, seed=4, label_delay_s=86_400)
    simulate(config, tmp_path, progress=False)
    monkeypatch.setenv("VERDICT_REDIS__URL", redis_settings.url)
    before = _list_lookups(redis_client)
    for processes in ("1", "2"):
        result, decided = run(tmp_path, "redis", "--processes", processes, "--flush")
        assert result.exit_code == 0, result.output
        assert len(decided) > 50
    assert _list_lookups(redis_client) == before
    assert redis_client.dbsize() > 0  # the features are in Redis


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _seconds(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def _awkward(folder: Path) -> None:
    """Add what makes a pipelined feature stage careful: labels that come before their
    transaction, labels of transactions that never come, repeated labels that disagree, and
    profiles that change mid-stream."""

    def rows(name: str) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in (folder / name).read_bytes().splitlines()]

    def label(tx_id: str, is_fraud: bool, ts: str) -> dict[str, Any]:
        return {"tx_id": tx_id, "is_fraud": is_fraud, "ts": ts, "source": "analyst"}

    txs, labels, profiles = (
        rows("transactions.jsonl"),
        rows("labels.jsonl"),
        rows("customers.jsonl"),
    )
    for tx in txs[100::37]:  # known a minute before the payment
        labels.append(label(tx["tx_id"], True, _stamp(_seconds(tx["ts"]) - 60)))
    for i, tx in enumerate(txs[150::41]):
        labels.append(label(f"never-{i}", True, tx["ts"]))
        later = _stamp(_seconds(tx["ts"]) + 3600)  # a second verdict, the other way
        labels.append(label(tx["tx_id"], i % 2 == 0, later))
    for tx in txs[200::53]:  # a move abroad, and consent withdrawn, as of this payment
        profiles.append({"customer_id": tx["customer_id"], "home_country": "JP",
                         "marketing_consent": False, "ts": tx["ts"]})  # fmt: skip
    labels.sort(key=lambda row: _seconds(row["ts"]))
    for name, found in (("labels.jsonl", labels), ("customers.jsonl", profiles)):
        (folder / name).write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in found))


def test_a_pipelined_feature_stage_decides_as_one_process_through_awkward_labels(
    tmp_path: Path, redis_settings: RedisSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two-process stage sends steps ahead of the answers to the steps before
    (state.redis_steps) except where doing one could change a later one's answers: the same
    decisions as one process, whose store asks one step at a time."""
    config = SimulationConfig(customers=300, terminals=200, days=5, seed=5, label_delay_s=3_600)
    simulate(config, tmp_path, progress=False)
    _awkward(tmp_path)
    monkeypatch.setenv("VERDICT_REDIS__URL", redis_settings.url)
    paired, decided = run(tmp_path, "redis", "--processes", "2", "--flush", "--span", "60")
    assert paired.exit_code == 0, paired.output
    alone, expected = run(tmp_path, "redis", "--processes", "1", "--flush", "--span", "60")
    assert alone.exit_code == 0, alone.output
    assert len(decided) == len(expected) > 100
    assert decided == expected
    assert any("fraud" in str(d["reasons"]) for d in expected)  # the labels were learnt
