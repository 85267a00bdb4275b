"""Reloading the policy without a restart, keeping the last good one when the new is invalid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from decisions.policy_file import PolicyError, PolicyHolder
from decisions.settings import DecisionSettings
from events.metrics import Metrics
from tests.unit.decisions.harness import bench, tx

GOOD = 'version = "v{n}"\n[thresholds]\nfraud_challenge = {t}\n'


class Ticks:
    """A monotonic clock set by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Ticks, Metrics, PolicyHolder]:
    path = tmp_path / "policy.toml"
    write(path, GOOD.format(n=1, t=0.5), mtime=1_000)
    ticks, metrics = Ticks(), Metrics(CollectorRegistry())
    holder = PolicyHolder.from_file(path, interval_s=5.0, clock=ticks, metrics=metrics)
    return path, ticks, metrics, holder


def reloads(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("verdict_policy_reloads_total", {"result": result})
    return value or 0.0


def test_a_changed_file_is_in_force_after_the_interval(
    setup: tuple[Path, Ticks, Metrics, PolicyHolder],
) -> None:
    path, ticks, metrics, holder = setup
    assert holder.current().version == "v1"
    write(path, GOOD.format(n=2, t=0.6), mtime=1_001)
    ticks.now += 4.9
    assert holder.current().version == "v1"  # not checked yet: the hot path stays cheap
    ticks.now += 0.2
    assert holder.current().version == "v2"
    assert holder.current().thresholds.fraud_challenge == 0.6
    assert reloads(metrics, "loaded") == 1


def test_an_invalid_file_keeps_the_last_good_policy_until_fixed(
    setup: tuple[Path, Ticks, Metrics, PolicyHolder],
) -> None:
    path, ticks, metrics, holder = setup
    before = holder.current().policy_version
    write(path, 'version = "v2"\n[thresholds]\nfraud_challenge = 7\n', mtime=1_001)
    ticks.now += 6
    assert holder.current().policy_version == before
    assert holder.last_error is not None
    assert holder.last_error.line == 3
    assert reloads(metrics, "invalid") == 1
    ticks.now += 6
    holder.current()
    assert reloads(metrics, "invalid") == 1  # the same broken file is not parsed again
    write(path, GOOD.format(n=3, t=0.4), mtime=1_002)
    ticks.now += 6
    assert holder.current().version == "v3"
    assert holder.last_error is None


def test_explicit_reload_raises_and_keeps_the_old_policy(
    setup: tuple[Path, Ticks, Metrics, PolicyHolder],
) -> None:
    path, _, _, holder = setup
    path.write_text("[thresholds\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        holder.reload()
    assert holder.current().version == "v1"
    path.write_text(GOOD.format(n=2, t=0.5))
    assert holder.reload().version == "v2"


def test_a_touched_but_identical_file_is_not_a_new_policy(
    setup: tuple[Path, Ticks, Metrics, PolicyHolder],
) -> None:
    path, ticks, metrics, holder = setup
    first = holder.current()
    write(path, GOOD.format(n=1, t=0.5), mtime=1_005)
    ticks.now += 6
    assert holder.current() is first
    assert reloads(metrics, "loaded") == 0


def test_a_deleted_file_keeps_the_policy(
    setup: tuple[Path, Ticks, Metrics, PolicyHolder],
) -> None:
    path, ticks, _, holder = setup
    path.unlink()
    ticks.now += 6
    assert holder.current().version == "v1"


def test_interval_zero_never_checks_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    write(path, GOOD.format(n=1, t=0.5), mtime=1_000)
    ticks = Ticks()
    holder = PolicyHolder.from_file(path, interval_s=0, clock=ticks)
    write(path, GOOD.format(n=2, t=0.5), mtime=1_001)
    ticks.now += 1e6
    assert holder.current().version == "v1"
    assert holder.reload().version == "v2"


def test_settings_choose_the_file_or_the_packaged_default(tmp_path: Path) -> None:
    assert PolicyHolder.from_settings(DecisionSettings()).current().version == "2026.11-1"
    path = tmp_path / "p.toml"
    path.write_text(GOOD.format(n=9, t=0.5))
    settings = DecisionSettings(policy_path=path, reload_interval_s=1)
    assert PolicyHolder.from_settings(settings).current().version == "v9"


def test_decisions_record_the_policy_in_force_after_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    write(path, GOOD.format(n=1, t=0.5), mtime=1_000)
    b = bench()
    ticks = Ticks()
    b.engine.policy = PolicyHolder.from_file(path, interval_s=1, clock=ticks)
    first = b.one(tx("a")).decision.policy_version
    write(path, GOOD.format(n=2, t=0.5), mtime=1_001)
    ticks.now += 2
    second = b.one(tx("b")).decision.policy_version
    assert first.startswith("v1+")
    assert second.startswith("v2+")
