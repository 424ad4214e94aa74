"""The learning routes' part of the API description (``ccaudit.service.openapi``)."""

from __future__ import annotations

from typing import Any

_READ: list[dict[str, list[str]]] = [{"personal": []}]
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_ERROR}


def _param(name: str, where: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": {"type": "string"}}  # fmt: skip


_PLATFORM = _param("platform", "query", "the learner's platform (staff); a platform read token reads its own")


def learning_paths() -> dict[str, Any]:
    """Paths of eligibility, waivers, bulk eligibility, statistics, the catalogue and xAPI statements."""
    xapi_headers = [_param("X-Experience-API-Version", "header", "1.0.x", required=True)]
    xapi_security: list[dict[str, list[str]]] = [{"ingest": []}, {"basic": []}]
    return {
        "/v1/eligibility/{learner}/{module}": {"get": {
            "summary": "Whether a learner may start a module: eligible, rule version, data valid as of, and the "
                       "tree (view=full) or only what is missing (view=learner), with reasons in nl, fr, en",
            "security": _READ,
            "parameters": [_param("learner", "path", "the learner's account on the platform"),
                           _param("module", "path", "a module of the catalogue"), _PLATFORM,
                           _param("view", "query", "learner (a read token's default) or full (staff's default)")],
            "responses": {"200": {"description": "the answer"}, "400": _error("a parameter is wrong"),
                          "404": _error("no such module, or no learner of your organisations")},
        }},
        "/v1/eligibility/waivers": {"post": {
            "summary": "Waive a module's rule for a learner: {platform, learner, module, reason, organisation}",
            "security": _READ,
            "responses": {"201": {"description": "the waiver"}, "400": _error("a field is wrong"),
                          "404": _error("no such module, or no learner of your organisations")},
        }},
        "/v1/eligibility/waivers/revocations": {"post": {
            "summary": "Take back a learner's waivers of a module in force: {platform, learner, module, reason}",
            "security": _READ,
            "responses": {"200": {"description": "the waivers taken back"}, "400": _error("a field is wrong"),
                          "404": _error("no waiver in force, or no learner of your organisations")},
        }},
        "/v1/learning/eligible/{module}": {"get": {
            "summary": "An organisation's learners who may start a module, evaluated in the engine",
            "security": _READ,
            "parameters": [_param("module", "path", "a module of the catalogue"), _PLATFORM,
                           _param("organisation", "query", "the organisation", required=True)],
            "responses": {"200": {"description": "the learners"}, "404": _error("no such module or organisation")},
        }},
        "/v1/learning/stats/{module}": {"get": {
            "summary": "A module's statistics; groups of fewer than 5 learners suppressed as '<5'",
            "security": _READ,
            "parameters": [_param("module", "path", "a module of the catalogue"), _PLATFORM,
                           _param("by", "query", "organisation, profession or period"),
                           _param("since", "query", "ISO 8601: the learner's first event in the module, inclusive"),
                           _param("until", "query", "ISO 8601, exclusive")],
            "responses": {"200": {"description": "the statistics"}, "400": _error("a parameter is wrong"),
                          "404": _error("no such module")},
        }},
        "/v1/learning/catalogue": {
            "get": {"summary": "The module catalogue in force", "security": _READ,
                    "responses": {"200": {"description": "the catalogue"}}},
            "put": {"summary": "Publish a new, higher version of the module catalogue", "security": _READ,
                    "responses": {"201": {"description": "published"},
                                  "400": _error("invalid, or not a higher version")}},
        },
        "/xapi/statements": {
            "post": {"summary": "xAPI statements (one or an array) as learning events; answers their ids",
                     "security": xapi_security, "parameters": xapi_headers,
                     "responses": {"200": {"description": "the statements' ids"},
                                   "400": _error("a statement cannot be mapped or is refused"),
                                   "401": _error("no ingest token"), "409": _error("a stored id with other content")}},
            "put": {"summary": "One xAPI statement under statementId",
                    "security": xapi_security,
                    "parameters": [*xapi_headers, _param("statementId", "query", "a UUID", required=True)],
                    "responses": {"204": {"description": "stored, acknowledged or ignored"},
                                  "400": _error("cannot be mapped or is refused"), "401": _error("no ingest token"),
                                  "409": _error("the id is stored with other content")}},
        },
    }  # fmt: skip
