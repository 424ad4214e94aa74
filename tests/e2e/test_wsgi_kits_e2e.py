"""End to end through the Flask and Django kits: gunicorn (pre-fork, --preload) → WSGI capture →
recorder → HTTP → service → chDB. The same cases as the Starlette kit's."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Proc, Service, wait_until
from tests.e2e.test_kit_e2e import UA, login, rid, settled

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Kit:
    """What differs between the kits: names and paths. The cases below are the same for both."""

    fixture: str
    platform: str
    organisation: str
    record_path: str  # an admin edit of a person's record: id 1
    record_route: str
    record_ids: tuple[str, str, str]
    record_field: str
    subject_prefix: str
    action: str
    user_action: str
    profile_id: str  # alice's global profile id, where the kit knows one


FLASK = Kit(
    "flask_kit", "learning", "opleidingen-a", "/admin/learners/{}", "/admin/learners/{learner_id}",
    ("200", "201", "202"), "name", "learner:", "learner.update", "/modules/privacy-101/enrol", "p-1001",
)  # fmt: skip
DJANGO = Kit(
    "django_kit", "library", "bibliotheek-west", "/admin/members/{}", "/admin/members/{member_id}",
    ("300", "301", "302"), "name", "member:", "member.update", "/books/1/borrow", "",
)  # fmt: skip


@pytest.fixture(params=[FLASK, DJANGO], ids=["flask", "django"])
def case(request: pytest.FixtureRequest) -> tuple[Kit, Proc]:
    kit: Kit = request.param
    return kit, request.getfixturevalue(kit.fixture)


def test_admin_post_gives_exactly_one_row_with_the_right_fields(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    admin = login(proc, "alice")
    request_id = rid()
    path = kit.record_path.format(kit.record_ids[1])
    response = admin.post(path, data={kit.record_field: "Renamed"}, headers={"X-Request-ID": request_id})
    assert response.status_code == 303

    [row] = settled(service, request_id)  # exactly one: under Django nothing is recorded twice either
    assert row["platform"] == kit.platform
    assert row["organisation"] == kit.organisation
    assert row["actor_account_id"] == "alice"
    assert row["actor_profile_id"] == kit.profile_id
    assert row["actor_role"] == "admin"
    assert row["admin_operation"] is True
    assert row["route"] == kit.record_route
    assert row["method"] == "POST"
    assert row["status"] == 303
    assert row["outcome"] == "success"
    assert row["client_ip"] == "127.0.0.1"
    assert row["peer_ip"] == "127.0.0.1"
    assert row["user_agent"] == UA
    assert (row["browser"], row["os"], row["device"]) == ("Chrome", "Windows", "desktop")
    assert row["duration_ms"] > 0


def test_record_audit_enriches_the_request_event(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    admin = login(proc, "alice")
    request_id = rid()
    record_id = kit.record_ids[2]
    admin.post(kit.record_path.format(record_id), data={kit.record_field: "X"}, headers={"X-Request-ID": request_id})

    [row] = settled(service, request_id)
    assert row["action"] == kit.action
    assert (row["resource_id"], row["subject_id"]) == (record_id, kit.subject_prefix + record_id)
    assert row["details"] == {"fields": kit.record_field}


def test_personal_data_read_is_audited_with_its_subject(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    admin = login(proc, "alice")
    request_id = rid()
    record_id = kit.record_ids[0]
    assert admin.get(kit.record_path.format(record_id), headers={"X-Request-ID": request_id}).status_code == 200

    [row] = settled(service, request_id)
    assert (row["action"], row["method"], row["subject_id"]) == ("http.GET", "GET", kit.subject_prefix + record_id)


def test_exception_is_recorded_as_error_and_reaches_the_server(case: tuple[Kit, Proc], service: Service) -> None:
    _, proc = case
    admin = login(proc, "alice")
    request_id = rid()
    response = admin.post("/admin/boom", headers={"X-Request-ID": request_id})
    assert response.status_code == 500

    [row] = settled(service, request_id)
    assert (row["outcome"], row["status"], row["route"]) == ("error", 500, "/admin/boom")
    # The framework logged the exception to the server's error log.
    wait_until(lambda: "RuntimeError: the admin action failed" in proc.output())


def test_login_failed_login_and_logout_are_recorded(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    ok, bad, out = rid(), rid(), rid()
    with httpx.Client(base_url=proc.url, timeout=10) as client:
        response = client.post("/login", data={"username": "bob", "password": "demo"}, headers={"X-Request-ID": ok})
        assert response.status_code == 303
        assert client.post("/logout", headers={"X-Request-ID": out}).status_code == 303
    with httpx.Client(base_url=proc.url, timeout=10) as client:  # a fresh visitor, not logged in
        response = client.post("/login", data={"username": "bob", "password": "nope"}, headers={"X-Request-ID": bad})
    assert response.status_code == 401

    [good] = settled(service, ok)
    assert (good["action"], good["outcome"], good["actor_account_id"]) == ("auth.login", "success", "bob")
    assert good["organisation"] == kit.organisation
    [failed] = settled(service, bad)
    assert (failed["action"], failed["outcome"], failed["status"]) == ("auth.login_failed", "denied", 401)
    assert failed["actor_account_id"] == ""
    [logout] = settled(service, out)
    assert (logout["action"], logout["actor_account_id"]) == ("auth.logout", "bob")  # who it was, before


def test_end_user_action_is_audited_and_public_pages_are_not(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    user = login(proc, "bob")
    act_id, page_id = rid(), rid()
    assert user.post(kit.user_action, headers={"X-Request-ID": act_id}).status_code == 201
    assert user.get("/about", headers={"X-Request-ID": page_id}).status_code == 200

    [row] = settled(service, act_id)
    assert (row["actor_account_id"], row["actor_role"], row["admin_operation"]) == ("bob", "user", False)
    assert service.events(request_id=page_id) == []


def test_forwarded_header_from_an_untrusted_peer_is_ignored(case: tuple[Kit, Proc], service: Service) -> None:
    kit, proc = case
    admin = login(proc, "alice")
    request_id = rid()
    headers = {"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.9"}
    admin.post(kit.record_path.format(kit.record_ids[0]), data={kit.record_field: "A"}, headers=headers)
    [row] = settled(service, request_id)
    assert row["client_ip"] == "127.0.0.1"
