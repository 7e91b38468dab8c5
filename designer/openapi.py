"""The OpenAPI 3.1 document of the designer API, built from the route table and what each
endpoint declared through :func:`designer.web.api` — never written by hand, so it cannot
drift from the code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from designer.web import ApiSpec

__all__ = ["openapi_document"]

_PARAM = re.compile(r"\{([A-Za-z_]+)(?::(\w+))?\}")

_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem; messages in Chinese and English",
    "required": ["status", "code", "message_zh", "message_en"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "message_zh": {"type": "string"},
        "message_en": {"type": "string"},
        "problems": {
            "type": "array",
            "description": "validator problems: node id, field pointer, line and column",
            "items": {"type": "object"},
        },
    },
}

_COMMON = {
    400: "malformed request (JSON syntax with line and column)",
    401: "not signed in",
    403: "not allowed for your roles, or a missing CSRF token",
    413: "body too large",
}


def _model_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Problem": _PROBLEM_SCHEMA,
        "FlowDocument": {
            "description": "a flow document; see GET /api/schema/flow",
            "type": "object",
        },
    }
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        spec: ApiSpec | None = getattr(route.endpoint, "spec", None)
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation: dict[str, Any] = {
                "operationId": f"{route.endpoint.__name__}",
                "summary": spec.summary if spec else (route.endpoint.__doc__ or "").strip(),
                "responses": {"200": {"description": "OK"}},
            }
            if spec is None:
                paths.setdefault(path, {})[method.lower()] = operation
                continue
            if spec.description:
                operation["description"] = spec.description
            if spec.tag:
                operation["tags"] = [spec.tag]
            parameters = [
                {
                    "name": m.group(1),
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer" if m.group(2) == "int" else "string"},
                }
                for m in _PARAM.finditer(route.path)
            ]
            if method == "PUT" and spec.body == "flow":
                parameters.append(
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": True,
                        "description": "the revision the edit started from (the ETag read)",
                        "schema": {"type": "string"},
                    }
                )
            if parameters:
                operation["parameters"] = parameters
            if spec.body == "audio":
                operation["requestBody"] = {
                    "required": True,
                    "description": "the audio file itself (any common format)",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                }
            elif spec.body is not None:
                if spec.body == "flow":
                    schema = {"$ref": "#/components/schemas/FlowDocument"}
                else:
                    assert isinstance(spec.body, type)
                    schema = _model_ref(spec.body, schemas)
                operation["requestBody"] = {
                    "required": spec.body != "flow" or method != "POST" or "validate" not in path,
                    "content": {"application/json": {"schema": schema}},
                }
            problem = {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            responses = dict(_COMMON) if spec.permission else {400: _COMMON[400], 413: _COMMON[413]}
            responses.update(spec.responses)
            for status, text in sorted(responses.items()):
                operation["responses"][str(status)] = {"description": text, "content": problem}
            if spec.permission:
                operation["security"] = [{"session": []}]
                operation["x-permission"] = spec.permission
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivrflow designer API",
            "version": "1",
            "description": "Flows, drafts, publishing, users and audit for ivrflow. Sign in "
            "with POST /api/login; send the returned CSRF token in X-CSRF-Token on every "
            "state-changing call.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "ivrflow_session"}
            },
        },
    }
