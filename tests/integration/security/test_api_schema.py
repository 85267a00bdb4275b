"""Schemathesis against the served ``/openapi.json``: every endpoint, generated requests valid
and invalid, on a real server with the real engine on Redis.

Every answer must match the document (status documented, content type, body schema, headers),
and none may be a 5xx. The token is configured, so the document's security scheme is exercised
too (schemathesis also checks that a request without it is refused).

The operations are listed from :func:`decisions.openapi.openapi_document` so that each gets a
test of its own, but the cases come from the document the server serves. (schemathesis's
``from_fixture`` loader does not run on pytest 9, so hypothesis is driven here directly.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.openapi import from_url

from decisions.openapi import openapi_document
from tests.integration.security.live_api import AUTH, LiveApi

#: Cases per operation and mode: 10 operations x 2 modes in well under a minute.
EXAMPLES = 25
_PATHS = openapi_document()["paths"]
#: Every operation of the document, and the mode of generation that applies to it: an
#: operation without parameters or body has nothing to make invalid.
CASES = [
    pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode.value}")
    for path, item in _PATHS.items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or "parameters" in operation or "requestBody" in operation
]


@pytest.fixture(scope="module")
def served_schema(live: LiveApi) -> schemathesis.BaseSchema:
    schema = from_url(f"{live.url}/openapi.json", headers=AUTH, timeout=10)
    schema.config.update(base_url=live.url, headers=AUTH, request_timeout=10)
    # An invalid body may also be too large: 413 is a rejection as good as 422.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_every_answer_matches_the_document_and_none_is_a_5xx(
    served_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = served_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case[Any]) -> None:
        response = case.call_and_validate()
        assert response.status_code < 500, response.text

    check()
