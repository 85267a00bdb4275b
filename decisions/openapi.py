"""The OpenAPI 3.1 document of the inline API, built from the same records that validate it.

Schemas come from the pydantic records of :mod:`events` (inputs in validation mode, outputs in
serialization mode), so the document cannot drift from what the API accepts and answers.

>>> doc = openapi_document()
>>> doc["openapi"], sorted(doc["paths"])[:2]
('3.1.0', ['/healthz', '/metrics'])
>>> doc["paths"]["/v1/decisions"]["post"]["responses"]["200"]["content"]["application/json"]
{'schema': {'$ref': '#/components/schemas/Decision'}}
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from events.outputs import Alert, Decision, Trigger
from events.records import IDENTIFIER_PATTERN, CustomerProfile, Label, OfferResponse, Transaction

REF: Final = "#/components/schemas/{model}"
PROFILE_BODY: Final = "The profile; its customer_id may be omitted (the path names it)."

_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Stable machine-readable code."},
        "message": {"type": "string", "description": "What is wrong, for a person."},
        "kind": {"type": "string"},
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        401: "Missing or wrong bearer token.",
        404: "Not found.",
        413: "Body larger than the configured limit.",
        422: "The body breaks its contract; `problems` names each field and what is wrong.",
    }
    return {str(s): _json_body(_ref("Error"), words[s]) for s in statuses}


def _schemas() -> dict[str, Any]:
    inputs: list[type[BaseModel]] = [Transaction, Label, OfferResponse, CustomerProfile]
    outputs: list[type[BaseModel]] = [Decision, Alert, Trigger]
    pairs = [(model, "validation") for model in inputs] + [(m, "serialization") for m in outputs]
    _, definitions = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["Error"] = _ERROR_SCHEMA
    schemas["Accepted"] = _ACCEPTED_SCHEMA
    schemas["CustomerFeatures"] = _FEATURES_SCHEMA
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
            "pattern": IDENTIFIER_PATTERN,
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
                        **_errors(401, 413, 422),
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
                        **_errors(401, 413, 422),
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
                        **_errors(401, 413, 422),
                    },
                }
            },
            "/v1/customers/{customer_id}": {
                "put": {
                    "summary": "Create or update a customer's profile (home country, consent).",
                    "security": auth,
                    "parameters": [customer_id],
                    "requestBody": _json_body(_ref("CustomerProfile"), PROFILE_BODY)
                    | {"required": True},
                    "responses": {
                        "200": _json_body(_ref("CustomerProfile"), "The profile as stored."),
                        **_errors(401, 413, 422),
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
                        **_errors(401, 404, 422),
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
                    "responses": {"200": {"description": "Alive."}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Redis and the broker answer.",
                    "responses": {
                        "200": {"description": "Ready."},
                        "503": {"description": "A dependency does not answer."},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1 document."}},
                }
            },
        },
    }
