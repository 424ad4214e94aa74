"""End to end through the Starlette kit: uvicorn → middleware → recorder → HTTP → service → chDB."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Proc, Service, wait_until

pytestmark = pytest.mark.e2e

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def rid() -> str:
    return f"req-{uuid.uuid4().hex}"


def login(kit: Proc, username: str) -> httpx.Client:
    client = httpx.Client(base_url=kit.url, headers={"User-Agent": UA}, timeout=10)
    response = client.post("/login", data={"username": username, "password": "demo"})
    assert response.status_code == 303
    return client


def settled(service: Service, request_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The events of one request once they have arrived, re-read after a pause to catch extras."""
    wait_until(lambda: len(service.events(request_id=request_id)) >= count)
    time.sleep(0.5)  # several flush intervals: a duplicate would have arrived by now
    return service.events(request_id=request_id)


def test_admin_post_gives_exactly_one_row_with_the_right_fields(kit: Proc, service: Service) -> None:
    admin = login(kit, "alice")
    request_id = rid()
    response = admin.post("/admin/users/101", data={"name": "Bas J."}, headers={"X-Request-ID": request_id})
    assert response.status_code == 303

    [row] = settled(service, request_id)
    assert row["platform"] == "coop"
    assert row["organisation"] == "gemeente-a"
    assert row["actor_account_id"] == "alice"
    assert row["actor_profile_id"] == "p-1001"
    assert row["actor_role"] == "admin"
    assert row["admin_operation"] is True
    assert row["route"] == "/admin/users/{person_id}"
    assert row["method"] == "POST"
    assert row["status"] == 303
    assert row["outcome"] == "success"
    assert row["client_ip"] == "127.0.0.1"
    assert row["peer_ip"] == "127.0.0.1"
    assert row["user_agent"] == UA
    assert (row["browser"], row["os"], row["device"]) == ("Chrome", "Windows", "desktop")
    assert row["duration_ms"] > 0
    assert row["event_time"] <= row["received_at"]


def test_record_audit_enriches_the_request_event(kit: Proc, service: Service) -> None:
    admin = login(kit, "alice")
    request_id = rid()
    admin.post("/admin/users/102", data={"email": "c@example.org"}, headers={"X-Request-ID": request_id})

    [row] = settled(service, request_id)
    assert row["action"] == "person.update"
    assert (row["resource_type"], row["resource_id"]) == ("person", "102")
    assert row["subject_id"] == "person:102"
    assert row["details"] == {"fields": "email"}


def test_personal_data_read_is_audited_with_its_subject(kit: Proc, service: Service) -> None:
    admin = login(kit, "alice")
    request_id = rid()
    assert admin.get("/admin/users/100", headers={"X-Request-ID": request_id}).status_code == 200

    [row] = settled(service, request_id)
    assert (row["action"], row["method"], row["subject_id"]) == ("http.GET", "GET", "person:100")


def test_exception_before_response_is_recorded_as_error_and_reaches_the_server(kit: Proc, service: Service) -> None:
    admin = login(kit, "alice")
    request_id = rid()
    response = admin.post("/admin/boom", headers={"X-Request-ID": request_id})
    assert response.status_code == 500

    [row] = settled(service, request_id)
    assert (row["outcome"], row["status"], row["route"]) == ("error", 500, "/admin/boom")
    # The exception went on to the server, which logged it.
    wait_until(lambda: "RuntimeError: the admin action failed" in kit.output())


def test_login_and_failed_login_are_recorded(kit: Proc, service: Service) -> None:
    ok, bad = rid(), rid()
    with httpx.Client(base_url=kit.url, timeout=10) as client:
        response = client.post("/login", data={"username": "bob", "password": "demo"}, headers={"X-Request-ID": ok})
        assert response.status_code == 303
    with httpx.Client(base_url=kit.url, timeout=10) as client:  # a fresh visitor, not logged in
        response = client.post("/login", data={"username": "bob", "password": "nope"}, headers={"X-Request-ID": bad})
    assert response.status_code == 401

    [good] = settled(service, ok)
    assert (good["action"], good["outcome"], good["actor_account_id"]) == ("auth.login", "success", "bob")
    [failed] = settled(service, bad)
    assert (failed["action"], failed["outcome"], failed["status"]) == ("auth.login_failed", "denied", 401)
    assert failed["actor_account_id"] == ""


def test_end_user_action_is_audited_and_public_pages_are_not(kit: Proc, service: Service) -> None:
    user = login(kit, "bob")
    post_id, page_id = rid(), rid()
    assert user.post("/posts", data={"title": "hi"}, headers={"X-Request-ID": post_id}).status_code == 201
    assert user.get("/about", headers={"X-Request-ID": page_id}).status_code == 200

    [row] = settled(service, post_id)
    assert (row["actor_account_id"], row["actor_role"], row["admin_operation"]) == ("bob", "user", False)
    assert service.events(request_id=page_id) == []


def test_forwarded_header_from_an_untrusted_peer_is_ignored(kit: Proc, service: Service) -> None:
    admin = login(kit, "alice")
    request_id = rid()
    headers = {"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.9"}
    admin.post("/admin/users/100", data={"name": "Anna"}, headers=headers)
    [row] = settled(service, request_id)
    assert row["client_ip"] == "127.0.0.1"


def test_read_api_filters_by_actor_and_outcome(kit: Proc, service: Service) -> None:
    client = httpx.Client(base_url=kit.url, timeout=10)
    request_id = rid()
    client.post("/login", data={"username": "carol", "password": "x"}, headers={"X-Request-ID": request_id})
    settled(service, request_id)
    denied = service.events(outcome="denied", action="auth.login_failed")
    assert denied
    assert all(e["outcome"] == "denied" for e in denied)
    bob = service.events(actor="p-2002")
    assert bob
    assert all("p-2002" in (e["actor_account_id"], e["actor_profile_id"]) for e in bob)
