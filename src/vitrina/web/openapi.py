"""The OpenAPI 3.1 document, derived: paths, parameters, bodies, answers and
errors from the operations of web/api.py, body schemas from the structs of
vitrina.wire, error codes from errors.py. Nothing here declares an
operation. Tests check the server against it (tests/test_openapi.py)."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import msgspec

from vitrina import __version__, wire
from vitrina.domain.errors import codes_by_status
from vitrina.domain.numbers import BOOLEAN, Whole
from vitrina.web.api import OPERATIONS
from vitrina.web.operation import Operation

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """Error answers, described by the codes errors.py gives each status."""
    codes = codes_by_status()
    return {
        str(status): _json(_ref("Error"), "errorCode " + " or ".join(codes[status]))
        for status in statuses
    }


def _lenient(schema: Any) -> Any:
    """A request schema with what the server also reads (vitrina.wire.reading):
    a whole number may come as its text, a boolean as one of its words."""
    if isinstance(schema, list):
        return [_lenient(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _lenient(v) for k, v in schema.items()}
    if schema.get("type") == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            text = {"type": "string", "pattern": Whole(low, high).pattern}
            return {"anyOf": [schema, text]}
    if schema.get("type") == "boolean":
        return {"anyOf": [schema, {"type": "string", "pattern": BOOLEAN}]}
    return schema


def _schemas() -> dict[str, Any]:
    """Every body's schema, from the structs the server reads and writes
    (vitrina.wire). responseFields may leave out any field of a category and
    of what it holds, so none of those is required."""
    _, answers = msgspec.json.schema_components(wire.RESPONSES, ref_template=_REF + "{name}")
    _, requests = msgspec.json.schema_components(wire.REQUESTS, ref_template=_REF + "{name}")
    for name in ("Category", "CategorySearch", "Size", "BorderInfo", "Colour", "Alt"):
        answers[name].pop("required", None)
    return {
        **{name: _tidy(schema) for name, schema in answers.items()},
        **{name: _lenient(_tidy(schema)) for name, schema in requests.items()},
    }


def _tidy(schema: Any) -> Any:
    """A schema as msgspec writes it, without titles or an empty
    ``required``, and with docstrings unindented."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {k: _tidy(v) for k, v in schema.items() if k != "title"}
    if schema.get("required") == []:
        del schema["required"]
    if isinstance(schema.get("description"), str):  # a struct's docstring
        schema["description"] = inspect.cleandoc(schema["description"])
    return schema


def describe(operation: Operation) -> dict[str, Any]:
    """One operation, as the document shows it."""
    answer = operation.answer
    if answer.shape is not None:
        ok = _json(_ref(answer.shape.__name__), answer.description)
    else:
        ok = {"description": answer.description, "content": answer.media}
    if answer.links:
        ok["links"] = answer.links
    described: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "parameters": [p.describe() for p in operation.all_params],
        "responses": {"200": ok, **_errors(*operation.errors)},
    }
    needs = []
    if operation.scope:
        needs.append(f"the `{operation.scope}` scope")
    if operation.secret:
        needs.append("a secret token")
    if needs:
        described["description"] = f"Needs {' and '.join(needs)}."
    body = operation.body
    if body is not None:
        content = (
            {"application/json": {"schema": _ref(body.shape.__name__)}}
            if body.shape is not None
            else body.content
        )
        described["requestBody"] = {"required": True, "content": content}
        if body.description:
            described["requestBody"]["description"] = body.description
    if not operation.token:
        described["security"] = []
    return described


@cache
def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = describe(operation)
    return paths


def openapi_document(server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vitrina: Ecwid REST API v3, categories and category images",
            "version": __version__,
            "description": "Same paths, JSON and errors as Ecwid's REST API v3 for categories.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"queryToken": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": _schemas(),
        },
    }
