"""The in-memory list store passes the list conformance cases."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from decisions.lists import InMemoryListStore, ListStore
from tests.unit.decisions.list_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_conformance(case: Callable[[ListStore], None]) -> None:
    case(InMemoryListStore())
