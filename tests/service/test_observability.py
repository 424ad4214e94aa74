"""The service's OpenTelemetry signals and its API description, in-process on the real engine."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.wire import Batch
from tests.conftest import metric_points
from tests.ingest.test_pipeline import batch, wire

SPANS = InMemorySpanExporter()


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_ingest_is_traced_and_measured(store: Store, metric_reader: InMemoryMetricReader) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(provider)
    app = create_app(Settings(admin_token="admin-secret-of-the-observability-test"), store)
    token, _ = app.state.tokens.create("coop")
    response = call(
        app, "POST", "/v1/events", json=batch([wire(1), wire(2)]), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    [span] = [s for s in SPANS.get_finished_spans() if s.name == "ccaudit.ingest"]
    assert span.attributes is not None
    assert (span.attributes["ccaudit.platform"], span.attributes["ccaudit.events"]) == ("coop", 2)
    points = metric_points(metric_reader)
    assert sum(p.value for p in points["ccaudit.ingest.events"]) >= 2
    assert sum(p.count for p in points["ccaudit.ingest.duration"]) >= 1


def test_openapi_document_describes_the_wire_format(store: Store) -> None:
    app = create_app(Settings(), store)
    document = call(app, "GET", "/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v1/events", "/v1/audit/events", "/v1/usage/summary", "/health"} <= set(document["paths"])
    responses = document["paths"]["/v1/events"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409", "413", "415", "429", "503"} <= set(responses)
    schemas = document["components"]["schemas"]
    assert {"Batch", "AuditEventIn", "UsageEventIn", "ConsentEventIn"} <= set(schemas)
    Batch.model_validate_json(json.dumps(batch([wire(1)])))  # what the document describes is what ingest accepts
    # Ingest refuses unknown keys, at the top of the batch as in its events: so does the contract.
    assert all(schema["additionalProperties"] is False for name, schema in schemas.items() if name != "Error")
    with pytest.raises(ValidationError, match="extra"):
        Batch.model_validate({**batch([wire(1)]), "colour": "red"})
    # Every route the service answers is in the document, with each of its methods.
    routes = {(route.path, method.lower()) for route in app.routes for method in route.methods - {"HEAD"}}
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == described
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document))
    assert refs
    assert set(refs) <= set(schemas)
