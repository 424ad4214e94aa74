"""The service's API description (OpenAPI 3.1), served at ``GET /v1/openapi.json``.

Built from the same pydantic models that validate ingest, so the document cannot drift from the
code; non-Python platforms can generate a client from it or read it as the contract.
"""

from __future__ import annotations

from typing import Any

from ccaudit import __version__
from ccaudit.service.learning_openapi import learning_paths
from ccaudit.wire import Batch

# Batch's docstring speaks to this code's readers; the published document speaks to a platform's.
_BATCH_DESCRIPTION = "A v1 batch. The platform must be the one the ingest token was made for."


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return response


def _query(name: str, description: str, kind: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": {"type": kind}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


# The filters every read of the audit trail takes (ccaudit.search.filters).
_SEARCH_FILTERS = [
    _query("since", "ISO 8601 time, inclusive"),
    _query("until", "ISO 8601 time, exclusive"),
    *(_query(n, f"exact {n}") for n in ("platform", "organisation", "subject", "resource_type", "resource_id")),
    _query("actor", "account or profile id"),
    _query("action", "exact, or a prefix: person.*"),
    _query("outcome", "success, denied, failed, error or aborted"),
    _query("status", "HTTP status, 100 to 599", "integer"),
    _query("ip", "an IP address or a CIDR network"),
    _query("request_id", "the request id (X-Request-ID)"),
    _query("trace_id", "the trace id"),
    _query("text", "occurs, in any case, in one of the details' values"),
    _query(
        "q",
        "the search box: qualifiers and free text, e.g. actor:anna action:person.* ip:10.0.0.0/8 "
        'created:>=2026-11-01 "text"',
    ),
]


_DASHBOARD_RANGE = [
    _query("since", "date, inclusive (default: 29 days before until)"),
    _query("until", "date, inclusive (default: today, UTC)"),
    _query("platform", "one platform (default: all this credential may see)"),
    _query("organisation", "one organisation, on per-organisation dashboards"),
]


def openapi() -> dict[str, Any]:
    batch = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
    components = batch.pop("$defs", {})
    components["Batch"] = {**batch, "description": _BATCH_DESCRIPTION}
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "reason": {"type": "string"}},
                },
            },
        },
        "required": ["error"],
    }
    # Reads take a personal or platform read token; administration takes an operator's token or the
    # bootstrap credential (CCAUDIT_ADMIN_TOKEN). Which role may call which route: ccaudit.access.roles.
    admin: list[dict[str, list[str]]] = [{"admin": []}, {"personal": []}]
    personal: list[dict[str, list[str]]] = [{"personal": []}, {"basic": []}]
    reader: list[dict[str, list[str]]] = [{"personal": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "ccaudit service", "version": __version__},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ingest": {"type": "http", "scheme": "bearer", "description": "a platform ingest token (cca_...)"},
                "admin": {"type": "http", "scheme": "bearer", "description": "CCAUDIT_ADMIN_TOKEN (bootstrap only)"},
                "personal": {"type": "http", "scheme": "bearer", "description": "a personal or platform read token"},
                "basic": {"type": "http", "scheme": "basic", "description": "an account's username and password"},
            },
        },
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Store a batch of events (idempotent per event id)",
                    "security": [{"ingest": []}],
                    "requestBody": {
                        "required": True,
                        "description": "JSON, optionally with Content-Encoding: gzip; at most 16 MiB either way",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "stored",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "batch_id": {"type": "string"},
                                            "accepted": {"type": "integer"},
                                            "scrubbed": {
                                                "type": "integer",
                                                "description": "page views stored as (other) or without "
                                                "their referrer: they named an address, an id or an IP",
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error("malformed JSON or invalid events (problems name each index); nothing stored"),
                        "401": _error("no valid ingest token"),
                        "403": _error("the token belongs to another platform"),
                        "409": _error(
                            "an event id is stored with other content or by another platform: "
                            "stored events are never rewritten (problems name each index)"
                        ),
                        "413": _error("body larger than 16 MiB (compressed or not)"),
                        "415": _error("Content-Type is not application/json"),
                        "429": _error("rate limit of the token exceeded", retry_after=True),
                        "503": _error("the store is unavailable; retry", retry_after=True),
                    },
                }
            },
            "/v1/audit/events": {
                "get": {
                    "summary": "Search the audit trail, newest first (keyset pagination)",
                    "security": reader,
                    "parameters": [
                        *_SEARCH_FILTERS,
                        _query("limit", "1 to CCAUDIT_MAX_PAGE_SIZE (default 100)", "integer"),
                        _query("cursor", "next_cursor of the previous page"),
                    ],
                    "responses": {
                        "200": {"description": "events and next_cursor"},
                        "400": _error("bad parameter; a bad part of q also gets position and qualifier"),
                        "401": _error("no credential"),
                        "503": _error("the store, or the record of this read in the access stream, failed", True),
                    },
                }
            },
            "/v1/audit/events/{event_id}": {
                "get": {
                    "summary": "One audit event, every field, with query strings of related searches (links)",
                    "security": reader,
                    "parameters": [_path("event_id")],
                    "responses": {
                        "200": {
                            "description": "event and links (same_request, same_trace, actor_that_day, this_subject)"
                        },
                        "400": _error("not an event id"),
                        "404": _error("no such event this credential may see"),
                        "503": _error("the store, or the record of this read in the access stream, failed", True),
                    },
                }
            },
            "/v1/audit/export": {
                "get": {
                    "summary": "Every matching audit event, newest first, streamed as CSV or JSON Lines",
                    "security": reader,
                    "parameters": [_query("format", "csv (default) or jsonl"), *_SEARCH_FILTERS],
                    "responses": {
                        "200": {
                            "description": "text/csv (a header row; cells that would be formulas start "
                            "with ') or application/x-ndjson"
                        },
                        "400": _error("bad parameter"),
                        "503": _error("the store, or the record of this read in the access stream, failed", True),
                    },
                }
            },
            "/v1/access/events": {
                "get": {
                    "summary": "The access stream: searches, detail views and exports of the audit trail, newest first",
                    "security": reader,
                    "parameters": [
                        _query("since", "ISO 8601 time, inclusive"),
                        _query("until", "ISO 8601 time, exclusive"),
                        _query("principal", "who read, as recorded (e.g. personal_token:<account id>)"),
                        _query("account_id", "the reader's account"),
                        _query("kind", "search, detail, export or access_log (a reading of this stream)"),
                        _query("limit", "1 to CCAUDIT_MAX_PAGE_SIZE (default 100)", "integer"),
                        _query("cursor", "next_cursor of the previous page"),
                    ],
                    "responses": {"200": {"description": "events and next_cursor"}, "400": _error("bad parameter")},
                }
            },
            "/v1/usage/summary": {
                "get": {
                    "summary": "Page views, visitors and top lists per day",
                    "security": reader,
                    "parameters": [
                        _query("since", "date, inclusive (default: 29 days before until)"),
                        _query("until", "date, inclusive (default: today, UTC)"),
                        _query("platform", "one platform (default: all)"),
                        _query("page", "one page"),
                        _query("referrer", "one referrer host"),
                        _query("top", "length of the top lists, 1 to 100 (default 10)", "integer"),
                    ],
                    "responses": {
                        "200": {"description": "the summary"},
                        "400": _error("bad parameter"),
                        "401": _error("no admin token"),
                    },
                }
            },
            "/v1/dashboards": {
                "get": {
                    "summary": "The dashboards this credential may open, with their panels and columns",
                    "security": reader,
                    "responses": {"200": {"description": "the dashboards"}},
                }
            },
            "/v1/dashboards/{key}": {
                "get": {
                    "summary": "Every panel's table of a dashboard, read from the rollups; figures of fewer than "
                    "CCAUDIT_DASHBOARD_MIN_CELL people are the text '<k'",
                    "security": reader,
                    "parameters": [_path("key"), *_DASHBOARD_RANGE, _query("compare", "1: the previous period too")],
                    "responses": {
                        "200": {"description": "the dashboard's tables"},
                        "400": _error("bad parameter"),
                        "403": _error("a dashboard this credential may not open"),
                        "404": _error("no such dashboard"),
                    },
                }
            },
            "/v1/dashboards/{key}/{panel}.csv": {
                "get": {
                    "summary": "One panel's table as CSV, as the dashboard shows it",
                    "security": reader,
                    "parameters": [_path("key"), _path("panel"), *_DASHBOARD_RANGE],
                    "responses": {
                        "200": {"description": "the table", "content": {"text/csv": {}}},
                        "400": _error("bad parameter"),
                        "403": _error("a dashboard this credential may not open"),
                        "404": _error("no such dashboard or panel"),
                    },
                }
            },
            "/v1/admin/tokens": {
                "get": {
                    "summary": "List ingest tokens",
                    "security": admin,
                    "responses": {"200": {"description": "tokens"}},
                },
                "post": {
                    "summary": "Make an ingest token for {platform}",
                    "security": admin,
                    "responses": {"201": {"description": "the token, shown once"}},
                },
            },
            "/v1/admin/tokens/rotate": {
                "post": {
                    "summary": "New token; current ones work for the grace period",
                    "security": admin,
                    "responses": {"201": {"description": "the token, shown once"}},
                },
            },
            "/v1/admin/tokens/{token_id}": {
                "delete": {
                    "summary": "Revoke a token now",
                    "security": admin,
                    "parameters": [{"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "revoked"}, "404": _error("no such token")},
                },
            },
            "/v1/admin/accounts": {
                "get": {
                    "summary": "List accounts",
                    "security": admin,
                    "responses": {"200": {"description": "accounts"}},
                },
                "post": {
                    "summary": "Make an account: {username, role, organisations, password}",
                    "security": admin,
                    "responses": {"201": {"description": "the account"}, "400": _error("a field is wrong")},
                },
            },
            "/v1/admin/accounts/{account_id}": {
                "delete": {
                    "summary": "Disable an account (its tokens stop working)",
                    "security": admin,
                    "parameters": [_path("account_id")],
                    "responses": {"200": {"description": "disabled"}, "404": _error("no such account")},
                }
            },
            "/v1/admin/read-tokens": {
                "post": {
                    "summary": "Make a platform read token: {platform, scopes, days}",
                    "security": admin,
                    "responses": {"201": {"description": "the token, shown once"}, "400": _error("a field is wrong")},
                }
            },
            "/v1/me/tokens": {
                "get": {
                    "summary": "My personal API tokens",
                    "security": personal,
                    "responses": {"200": {"description": "tokens"}},
                },
                "post": {
                    "summary": "Make a personal API token: {scopes, days} (HTTP Basic with the password works here)",
                    "security": personal,
                    "responses": {"201": {"description": "the token, shown once"}, "400": _error("a field is wrong")},
                },
            },
            "/v1/me/tokens/{token_id}": {
                "delete": {
                    "summary": "Revoke one of my personal API tokens",
                    "security": personal,
                    "parameters": [_path("token_id")],
                    "responses": {"200": {"description": "revoked"}, "404": _error("no such token of yours")},
                }
            },
            # Data-subject rights and retention, for the dpo role (ccaudit.service.rights_routes).
            "/v1/subjects/{action}": {
                "post": {
                    "summary": "export, erase, restrict, object or rectify: {account_id, identifiers, platform, "
                    "request_id, purpose, lift, accept, grounds, table, column, value}",
                    "security": reader,
                    "parameters": [_path("action")],
                    "responses": {
                        "200": {"description": "the export, or what was done"},
                        "400": _error("a field is wrong"),
                        "404": _error("no such action"),
                        "409": _error("the subject is under a legal hold"),
                    },
                }
            },
            "/v1/subjects/requests": {
                "get": {
                    "summary": "Data-subject requests with their due dates, overdue ones marked",
                    "security": reader,
                    "responses": {"200": {"description": "requests"}},
                },
                "post": {
                    "summary": "One step of a request: {step: receive|verify|extend|done|refuse, request_id, kind, "
                    "account_id, platform, how, months, reason, answer}",
                    "security": reader,
                    "responses": {"200": {"description": "the request"}, "400": _error("the step does not fit")},
                },
            },
            "/v1/retention/holds": {
                "get": {
                    "summary": "Legal holds in force",
                    "security": reader,
                    "responses": {"200": {"description": "holds"}},
                },
                "post": {
                    "summary": "Place a legal hold {platform, account_id, reason}, or lift it ({..., lift: true})",
                    "security": reader,
                    "responses": {"200": {"description": "placed or lifted"}, "400": _error("a field is missing")},
                },
            },
            "/v1/retention/run": {
                "post": {
                    "summary": "Run the retention job ({dry_run: true}: list what it would do)",
                    "security": reader,
                    "responses": {"200": {"description": "the accounts due, rows touched"}},
                }
            },
            "/v1/retention/apply": {
                "post": {
                    "summary": "Set stored rows' retention to the register's ({dry_run: true}: list)",
                    "security": reader,
                    "responses": {"200": {"description": "the changes"}},
                }
            },
            "/v1/consent/{consent_id}": {
                "get": {
                    "summary": "A consent's history: every receipt, oldest first",
                    "security": reader,
                    "parameters": [
                        {
                            "name": "consent_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "the pseudonymous consent id (a UUID, any case)",
                        },
                    ],
                    "responses": {
                        "200": {"description": "consent_id and receipts"},
                        "400": _error("not a consent id"),
                        "401": _error("no admin token"),
                        "404": _error("no receipts for this consent id"),
                    },
                }
            },
            "/v1/register": {
                "get": {
                    "summary": "The processing register: per platform and stream, purposes, legal basis, consent "
                    "category and retention (public: it holds no personal data)",
                    "responses": {"200": {"description": "the register"}},
                }
            },
            "/v1/verify": {
                "get": {
                    "summary": "Verify the sealed trail (auditor, seal:verify): rows modified, removed or inserted, "
                    "seals missing, altered or reordered, with their ids (see docs/tamper-evidence.md)",
                    "parameters": [
                        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                        for n in ("platform", "stream", "since", "until", "trusted_head")
                    ],
                    "responses": {
                        "200": {"description": "the report: ok, findings, counts, chains"},
                        "400": _error("a bad parameter"),
                        "401": _error("no credential"),
                        "403": _error("not the auditor's"),
                    },
                }
            },
            "/v1/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
            },
            "/health": {
                "get": {
                    "summary": "Liveness, store reachability, ingest counters",
                    "responses": {"200": {"description": "ok"}, "503": {"description": "store down"}},
                }
            },
            **learning_paths(),
        },
    }
