"""The published contract: flask-restx's Swagger 2.0, made valid, and its OpenAPI 3.1 twin.

flask-restx writes a few things Swagger 2.0 does not have, or that mislead a reader:
- `type` as a list (`["string", "null"]`) for nullable fields: Swagger 2.0 says `x-nullable`;
- `anyOf` for a nested model that may be null;
- its own `ParseError`/`MaskError` responses and our error handlers' classes as top-level
  responses without a description;
- one example for every error response (the `Error` model's);
- nothing of the answers that the layers in front of every resource give: 400 for hostile input
  (NUL characters in the path or query, malformed JSON; `inputs`), 401 without a valid token
  (`resources.Base`) where one is needed, 413 for a body over MAX_BODY_BYTES and 429 past a
  rate limit (`rate_limits`) - so `polish` declares them on every operation they can reach.
`polish` fixes these on the generated document, so the code keeps describing itself with
plain models and docstrings. `to_openapi3` converts the polished document to OpenAPI 3.1;
no converter on PyPI is both maintained and small, and the subset flask-restx writes
(body and query parameters, `$ref`s to `#/definitions`, one security scheme) converts with
the rules of the OpenAPI 3.0 migration guide, written out below.
"""

from __future__ import annotations

import copy
import re
from typing import Any

#: A real message for the statuses whose causes are many; the description of any other
#: error response is the message the API sends (`Customer not found`, `OVERLAP`...).
ERROR_EXAMPLES = {
    "400": "Input payload validation failed",
    "401": "Missing bearer token: send 'Authorization: Bearer <jwt>'",
    "429": "Too many requests (at most 100 per 1 minute); retry after the Retry-After seconds",
}


def _nullable(node: Any) -> None:
    """`type: [t, "null"]` -> `type: t, x-nullable: true`; a type list without null (a
    status of string or integer) loses `type` (its `enum` says it all)."""
    if isinstance(node, list):
        for item in node:
            _nullable(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        if len(rest) == 1:
            node["type"] = rest[0]
        else:
            del node["type"]
        if "null" in kind:
            node["x-nullable"] = True
    options = node.get("anyOf")
    if isinstance(options, list):
        refs = [o for o in options if o.get("type") != "null"]
        del node["anyOf"]
        if len(refs) == 1:
            # A `$ref` cannot have siblings in Swagger 2.0: wrap it.
            node["allOf"] = refs
        if len(refs) < len(options):
            node["x-nullable"] = True
    for value in node.values():
        _nullable(value)


def _error_examples(operation: dict[str, Any]) -> None:
    for code, response in operation.get("responses", {}).items():
        if not code.isdigit() or int(code) < 400 or response.get("schema") != {"$ref": "#/definitions/Error"}:
            continue
        message = ERROR_EXAMPLES.get(code) or response.get("description")
        response["examples"] = {"application/json": {"message": message}}


_ERROR_REF = {"$ref": "#/definitions/Error"}


def _front_layer_responses(path: str, operation: dict[str, Any], security: list[Any]) -> None:
    """The answers of `inputs`, the token check and `rate_limits`, which run before any
    resource (see above)."""
    from time_tracker_api.rate_limits import EXEMPT_PREFIXES

    responses = operation["responses"]
    if operation.get("security", security):
        responses.setdefault("401", {"description": "Missing or invalid token", "schema": _ERROR_REF})
    responses.setdefault("400", {"description": "Invalid input", "schema": _ERROR_REF})
    if any(parameter.get("in") == "body" for parameter in operation.get("parameters", [])):
        responses.setdefault("413", {"description": "The request body is too large", "schema": _ERROR_REF})
    if not path.startswith(EXEMPT_PREFIXES):
        responses.setdefault(
            "429",
            {
                "description": "Too many requests",
                "schema": _ERROR_REF,
                "headers": {"Retry-After": {"type": "integer", "description": "Seconds to wait"}},
            },
        )


def polish(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated Swagger 2.0 document, valid and with an example per error response."""
    schema = copy.deepcopy(schema)
    _nullable(schema.get("definitions", {}))
    schema.pop("responses", None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            _nullable(operation.get("parameters", []))
            _front_layer_responses(path, operation, schema.get("security", []))
            _error_examples(operation)
            operation["responses"].pop("default", None)
    return schema


def _ref3(node: Any) -> Any:
    """`#/definitions/X` -> `#/components/schemas/X`; `x-nullable` -> a `null` type (3.1)."""
    if isinstance(node, list):
        return [_ref3(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/definitions/", "#/components/schemas/")
        elif key != "x-nullable":
            out[key] = _ref3(value)
    if node.get("x-nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "allOf" in out:
            out = {"anyOf": [*out.pop("allOf"), {"type": "null"}], **out}
    return out


_SCHEMA_KEYS = ("type", "format", "items", "enum", "default", "minimum", "maximum", "pattern", "minLength", "maxLength")


def _parameter3(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = {k: parameter[k] for k in _SCHEMA_KEYS if k in parameter}
    if parameter.get("collectionFormat") == "multi":
        schema.setdefault("type", "array")
    out: dict[str, Any] = {k: parameter[k] for k in ("name", "in", "description", "required") if k in parameter}
    out["schema"] = _ref3(schema)
    if parameter.get("collectionFormat") == "multi":
        out["style"], out["explode"] = "form", True
    return out


def _operation3(operation: dict[str, Any], consumes: list[str], produces: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: v for k, v in operation.items() if k not in ("parameters", "responses", "produces", "consumes")
    }
    if "security" in out:
        out["security"] = _security3(out["security"])
    parameters = []
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "body":
            media = {"schema": _ref3(parameter["schema"])}
            out["requestBody"] = {
                "required": bool(parameter.get("required")),
                "content": {kind: media for kind in operation.get("consumes", consumes)},
            }
        else:
            parameters.append(_parameter3(parameter))
    if parameters:
        out["parameters"] = parameters
    responses = {}
    for code, response in operation.get("responses", {}).items():
        converted: dict[str, Any] = {"description": response.get("description") or "Success"}
        if "schema" in response:
            examples = response.get("examples", {})
            converted["content"] = {
                kind: {"schema": _ref3(response["schema"]), **({"example": examples[kind]} if kind in examples else {})}
                for kind in operation.get("produces", produces)
            }
        if "headers" in response:
            converted["headers"] = {name: {"schema": _ref3(h)} for name, h in response["headers"].items()}
        responses[code] = converted
    out["responses"] = responses
    return out


def _component_name(name: str) -> str:
    """OpenAPI 3 component names are `[a-zA-Z0-9._-]+`: `TimeTracker JWT` -> `TimeTracker_JWT`."""
    return re.sub(r"[^a-zA-Z0-9._-]", "_", name)


def _security3(requirements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{_component_name(k): v for k, v in requirement.items()} for requirement in requirements]


def to_openapi3(swagger: dict[str, Any]) -> dict[str, Any]:
    """The Swagger 2.0 document as OpenAPI 3.1: servers from basePath, components from
    definitions and securityDefinitions (names with spaces get underscores), bodies as
    requestBody, parameters with a schema, nullable as a `null` type."""
    consumes = swagger.get("consumes", ["application/json"])
    produces = swagger.get("produces", ["application/json"])
    paths: dict[str, Any] = {}
    for path, operations in swagger.get("paths", {}).items():
        converted: dict[str, Any] = {}
        for method, operation in operations.items():
            if method == "parameters":
                converted["parameters"] = [_parameter3(p) for p in operation]
            else:
                converted[method] = _operation3(operation, consumes, produces)
        paths[path] = converted
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": swagger["info"],
        "servers": [{"url": swagger.get("basePath", "/")}],
        "paths": paths,
        "components": {
            "schemas": _ref3(swagger.get("definitions", {})),
            "securitySchemes": {
                _component_name(name): scheme for name, scheme in swagger.get("securityDefinitions", {}).items()
            },
        },
    }
    if "security" in swagger:
        document["security"] = _security3(swagger["security"])
    if "tags" in swagger:
        document["tags"] = swagger["tags"]
    return document
