"""The OpenAPI 3.1 document of the inline API, built from the same records that validate it.

Schemas come from the pydantic records of :mod:`events` (inputs in validation mode, outputs in
serialization mode), so the document cannot drift from what the API accepts and answers. What
the records check in code rather than in their JSON schema is added here (:func:`tighten`): the
ISO code lists of currencies and countries, the range of event times written as text, and the
identifier pattern spelled without a whitespace class (whose meaning differs between regex
dialects), so that a request the document calls valid is one the API accepts. Every status a
route can answer is documented, each error with the one JSON error body.

>>> doc = openapi_document()
>>> doc["openapi"], sorted(doc["paths"])[:2]
('3.1.0', ['/healthz', '/metrics'])
>>> doc["paths"]["/v1/decisions"]["post"]["responses"]["200"]["content"]["application/json"]
{'schema': {'$ref': '#/components/schemas/Decision'}}
"""

from __future__ import annotations

import copy
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from events.iso import COUNTRIES, CURRENCIES
from events.outputs import Alert, Decision, Trigger
from events.records import (
    IDENTIFIER_PATTERN,
    MAX_ATTRIBUTES,
    CustomerProfile,
    Label,
    OfferResponse,
    Transaction,
)

REF: Final = "#/components/schemas/{model}"
#: :data:`~events.records.IDENTIFIER_PATTERN` with Python's ``\s`` spelled out character by
#: character, so that every JSON Schema dialect (ECMA 262 too) reads it as the API does.
PORTABLE_IDENTIFIER_PATTERN: Final = (
    r"^[^\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000{}]+$"
)
#: ISO-8601 event times the API accepts, by their year: 1991-2098 is inside the accepted range
#: (1990-01-01 .. 2100-01-01) whatever the time zone.
EVENT_TIME_TEXT_PATTERN: Final = "^(199[1-9]|20[0-8][0-9]|209[0-8])-"
#: Fields checked against an ISO code list: (schema, property) -> the codes.
CODE_LISTS: Final = {
    ("Transaction", "currency"): CURRENCIES,
    ("Transaction", "country"): COUNTRIES,
    ("CustomerProfile", "home_country"): COUNTRIES,
}
PROFILE_BODY: Final = (
    "The profile; the path names the customer (a customer_id in the body must be the same)."
)

_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Stable machine-readable code."},
        "message": {"type": "string", "description": "What is wrong, for a person."},
        "kind": {"type": "string", "description": "The record or part that is wrong."},
        "retry_after_s": {"type": "number", "description": "With 429: seconds to wait."},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "problem"],
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
}
_ACCEPTED_SCHEMA: Final = {
    "type": "object",
    "required": ["accepted", "topic"],
    "properties": {"accepted": {"type": "boolean"}, "topic": {"type": "string"}},
}
_FEATURES_SCHEMA: Final = {
    "type": "object",
    "required": ["customer_id", "features"],
    "properties": {
        "customer_id": {"type": "string"},
        "features": {"type": "object", "additionalProperties": {"type": "number"}},
        "segment": {"type": "string", "description": "RFM tier from the policy."},
        "degraded": {"type": "boolean", "description": "True when the store did not answer."},
        "reasons": {"type": "array", "items": {"$ref": "#/components/schemas/Reason"}},
    },
}
_HEALTH_SCHEMA: Final = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}},
}
_READINESS_SCHEMA: Final = {
    "type": "object",
    "required": ["ready", "checks"],
    "properties": {
        "ready": {"type": "boolean"},
        "checks": {
            "type": "object",
            "additionalProperties": {"type": "boolean"},
            "description": "Each dependency and whether it answers.",
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        401: "Missing or wrong bearer token.",
        404: "Not found.",
        408: "The body did not arrive within the configured time.",
        413: "Body larger than the configured limit.",
        422: "The body breaks its contract; `problems` names each field and what is wrong.",
        429: "The API's request rate limit is reached; retry after `Retry-After` seconds.",
    }
    responses = {str(s): _json_body(_ref("Error"), words[s]) for s in statuses}
    if 429 in statuses:
        retry = {"description": "Whole seconds to wait.", "schema": {"type": "integer"}}
        responses["429"]["headers"] = {"Retry-After": retry}
    return responses


def tighten(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """Add to the request schema ``name`` (in place) what its record checks in code.

    Only request bodies are tightened: a response may say what a request may not (an event
    time of 1990-01-01 given in epoch seconds comes back as text).

    >>> body = tighten({"properties": {"currency": {"type": "string"}}}, "Transaction")
    >>> "EUR" in body["properties"]["currency"]["enum"]
    True
    """
    for (owner, field), codes in CODE_LISTS.items():
        node = schema.get("properties", {}).get(field)
        if owner == name and node is not None:
            for branch in node.get("anyOf", [node]):
                if branch.get("type") == "string":
                    branch["enum"] = sorted(codes)
    attributes = schema.get("properties", {}).get("attributes")
    if attributes is not None:
        attributes["maxProperties"] = MAX_ATTRIBUTES
    _tighten_patterns(schema)
    return schema


def _tighten_patterns(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            node["pattern"] = EVENT_TIME_TEXT_PATTERN
        if node.get("pattern") == IDENTIFIER_PATTERN:
            node["pattern"] = PORTABLE_IDENTIFIER_PATTERN
        if "patternProperties" in node:  # names must match: no other names are allowed
            node["additionalProperties"] = False
        for value in node.values():
            _tighten_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _tighten_patterns(value)


def _schemas() -> dict[str, Any]:
    inputs: list[type[BaseModel]] = [Transaction, Label, OfferResponse, CustomerProfile]
    outputs: list[type[BaseModel]] = [Decision, Alert, Trigger]
    pairs = [(model, "validation") for model in inputs] + [(m, "serialization") for m in outputs]
    _, definitions = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    update = copy.deepcopy(schemas["CustomerProfile"])
    update["properties"].pop("customer_id")
    update["required"].remove("customer_id")
    update |= {"title": "CustomerProfileUpdate", "description": PROFILE_BODY}
    schemas["CustomerProfileUpdate"] = tighten(update, "CustomerProfile")
    for name in ("Transaction", "Label", "OfferResponse"):
        schemas[name] = tighten(copy.deepcopy(schemas[name]), name)
    schemas["Error"] = _ERROR_SCHEMA
    schemas["Accepted"] = _ACCEPTED_SCHEMA
    schemas["CustomerFeatures"] = _FEATURES_SCHEMA
    schemas["Health"] = _HEALTH_SCHEMA
    schemas["Readiness"] = _READINESS_SCHEMA
    return schemas


def openapi_document() -> dict[str, Any]:
    """The whole document (``GET /openapi.json``)."""
    customer_id = {
        "name": "customer_id",
        "in": "path",
        "required": True,
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": PORTABLE_IDENTIFIER_PATTERN,
        },
    }
    auth: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Verdict inline API",
            "version": "1",
            "description": "Real-time decisions on payments, the 360-degree customer view, "
            "and the feedback (labels, offer responses) that teaches the models.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/decisions": {
                "post": {
                    "summary": "Decide on one transaction (approve, challenge, review, decline).",
                    "security": auth,
                    "requestBody": _json_body(_ref("Transaction"), "The transaction.")
                    | {"required": True},
                    "responses": {
                        "200": _json_body(_ref("Decision"), "The decision."),
                        **_errors(401, 408, 413, 422, 429),
                    },
                }
            },
            "/v1/labels": {
                "post": {
                    "summary": "The truth about a past transaction; the models learn from it.",
                    "security": auth,
                    "requestBody": _json_body(_ref("Label"), "The label.") | {"required": True},
                    "responses": {
                        "202": _json_body(_ref("Accepted"), "Published to `labels`."),
                        **_errors(401, 408, 413, 422, 429),
                    },
                }
            },
            "/v1/offer-responses": {
                "post": {
                    "summary": "A customer's answer to an offer; the propensity models learn.",
                    "security": auth,
                    "requestBody": _json_body(_ref("OfferResponse"), "The response.")
                    | {"required": True},
                    "responses": {
                        "202": _json_body(_ref("Accepted"), "Published to `offer-responses`."),
                        **_errors(401, 408, 413, 422, 429),
                    },
                }
            },
            "/v1/customers/{customer_id}": {
                "put": {
                    "summary": "Create or update a customer's profile (home country, consent).",
                    "security": auth,
                    "parameters": [customer_id],
                    "requestBody": _json_body(_ref("CustomerProfileUpdate"), PROFILE_BODY)
                    | {"required": True},
                    "responses": {
                        "200": _json_body(_ref("CustomerProfile"), "The profile as stored."),
                        **_errors(401, 404, 408, 413, 422, 429),
                    },
                }
            },
            "/v1/customers/{customer_id}/features": {
                "get": {
                    "summary": "The live 360-degree view: rolling features and segment.",
                    "security": auth,
                    "parameters": [customer_id],
                    "responses": {
                        "200": _json_body(_ref("CustomerFeatures"), "The features."),
                        **_errors(401, 404, 422, 429),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text exposition format).",
                    "security": auth,
                    "responses": {
                        "200": {
                            "description": "Metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: the process answers.",
                    "responses": {"200": _json_body(_ref("Health"), "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Redis and the broker answer.",
                    "responses": {
                        "200": _json_body(_ref("Readiness"), "Ready."),
                        "503": _json_body(_ref("Readiness"), "A dependency does not answer."),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "security": auth,
                    "responses": {
                        "200": _json_body({"type": "object"}, "OpenAPI 3.1 document."),
                        **_errors(401, 429),
                    },
                }
            },
        },
    }
