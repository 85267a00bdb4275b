"""verdict.event_loop: the worker's loop is the one its settings name."""

from __future__ import annotations

import asyncio

import pytest

from streams.settings import StreamSettings
from verdict import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_uvloop_is_the_default_and_runs_the_coroutine() -> None:
    pytest.importorskip("uvloop")
    assert StreamSettings().event_loop == "uvloop"
    assert event_loop.run(_loop_module()) == "uvloop"


def test_asyncio_keeps_the_standard_loop() -> None:
    assert event_loop.run(_loop_module(), "asyncio") == "asyncio"


def test_an_unknown_loop_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        event_loop.loop_factory("trio")  # type: ignore[arg-type]


def test_the_setting_rejects_other_loops() -> None:
    with pytest.raises(ValueError, match="event_loop"):
        StreamSettings(event_loop="tokio")  # type: ignore[arg-type]


def test_a_missing_uvloop_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop.loop_factory("uvloop") is None
    assert event_loop.run(_loop_module(), "uvloop") == "asyncio"
