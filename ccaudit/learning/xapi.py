"""xAPI statements mapped onto the learning stream (for an LMS with an xAPI log store, or a platform
relaying what its cmi5 content sent).

A statement becomes one learning event, or is acknowledged and ignored, or refuses its whole batch:

- ``id`` → ``event_id`` (one is made when absent, and returned); ``timestamp`` → ``event_time``
  (the time of arrival when absent);
- ``actor``: an Agent identified by an ``account``; ``account.name`` → ``learner``. An actor known
  only by an e-mail address (``mbox``, ``mbox_sha1sum``) or an OpenID is refused: the e-mail address
  is never stored, nor the actor's ``name``;
- ``verb.id``: the ADL verbs (``http://adlnet.gov/expapi/verbs/…``, ``https://w3id.org/xapi/adl/verbs/…``)
  registered, initialized, progressed, completed, passed, failed, terminated, satisfied and waived
  map to the verb of the same name; **any other verb carries no progress and is acknowledged and
  ignored** (experienced, attempted, answered, launched, abandoned, interacted, …);
- ``object.id``: an activity of the module catalogue (``activity_id`` of a module or a lesson) →
  ``module`` and ``lesson``; an activity not in the catalogue is refused;
- ``context.registration`` → ``registration``; ``context.extensions`` ``urn:ccaudit:profession`` and
  ``urn:ccaudit:organisation`` → ``profession`` and ``organisation``;
- ``result.score.scaled`` → ``score`` (passed, failed); the cmi5 progress extension → ``progress``
  (progressed); the cmi5 reason extension → ``reason`` (waived, satisfied); ``result.duration``
  (ISO 8601, e.g. ``PT4M30S``) → ``duration_ms`` where the verb carries one.

Nothing else is kept: no free-text ``result.response``, no names, no e-mail addresses.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from ccaudit.learning.catalogue import Catalogue
from ccaudit.wire import LEARNING_FIELDS

VERB_PREFIXES = ("http://adlnet.gov/expapi/verbs/", "https://w3id.org/xapi/adl/verbs/")
PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
REASON = "https://w3id.org/xapi/cmi5/result/extensions/reason"
PROFESSION = "urn:ccaudit:profession"
ORGANISATION = "urn:ccaudit:organisation"
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class StatementError(ValueError):
    """A statement that cannot be mapped: its index in the request and why."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"statements.{index}: {reason}")
        self.index = index


def _duration_ms(text: object) -> float:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text == "P" or text == "PT":
        raise ValueError(f"result.duration: {text!r} is not an ISO 8601 duration such as PT4M30S")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000


def _dict(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object")
    return value


def _learner(actor: object) -> str:
    actor = _dict(actor, "actor")
    if actor.get("objectType", "Agent") != "Agent":
        raise ValueError("actor: only an Agent (one learner) is taken, not a Group")
    account = _dict(actor.get("account"), "actor.account")
    name = account.get("name")
    if not isinstance(name, str) or not name:
        if any(key in actor for key in ("mbox", "mbox_sha1sum", "openid")):
            raise ValueError("actor: identify the learner by an account; an e-mail address or OpenID is never stored")
        raise ValueError("actor: an account with a name is needed")
    return name


def map_statement(statement: object, catalogue: Catalogue, now: datetime) -> tuple[str, dict[str, Any] | None]:
    """The statement's id, and its learning event on the wire (None: acknowledged and ignored).
    Raises ValueError saying what cannot be mapped."""
    statement = _dict(statement, "statement")
    raw_id = statement.get("id")
    try:
        statement_id = str(uuid.UUID(raw_id)) if raw_id is not None else str(uuid.uuid4())
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"id: {raw_id!r} is not a UUID") from None
    verb_id = _dict(statement.get("verb"), "verb").get("id")
    if not isinstance(verb_id, str):
        raise ValueError("verb.id: required")
    verb = next((verb_id[len(p) :] for p in VERB_PREFIXES if verb_id.startswith(p)), "")
    if verb not in LEARNING_FIELDS:
        _learner(statement.get("actor"))  # ignored, but only a valid statement is acknowledged
        return statement_id, None
    target = _dict(statement.get("object"), "object")
    if target.get("objectType", "Activity") != "Activity":
        raise ValueError("object: an Activity is needed")
    place = catalogue.activities().get(str(target.get("id")))
    if place is None:
        raise ValueError(f"object.id: activity {target.get('id')!r} is not in the module catalogue")
    context = _dict(statement.get("context"), "context")
    extensions = _dict(context.get("extensions"), "context.extensions")
    result = _dict(statement.get("result"), "result")
    result_extensions = _dict(result.get("extensions"), "result.extensions")
    event: dict[str, Any] = {
        "stream": "learning", "event_id": statement_id, "verb": verb, "learner": _learner(statement.get("actor")),
        "module": place[0], "lesson": place[1], "event_time": statement.get("timestamp") or _iso(now),
    }  # fmt: skip
    for key, name in ((PROFESSION, "profession"), (ORGANISATION, "organisation")):
        if isinstance(extensions.get(key), str):
            event[name] = extensions[key]
    if isinstance(context.get("registration"), str):
        event["registration"] = context["registration"]
    carries = LEARNING_FIELDS[verb]
    scaled = _dict(result.get("score"), "result.score").get("scaled")
    if "score" in carries and scaled is not None:
        event["score"] = scaled
    if "progress" in carries and PROGRESS in result_extensions:
        event["progress"] = result_extensions[PROGRESS]
    if "reason" in carries and REASON in result_extensions:
        event["reason"] = result_extensions[REASON]
    if "duration_ms" in carries and "duration" in result:
        event["duration_ms"] = _duration_ms(result["duration"])
    return statement_id, event


def map_statements(
    statements: list[object], catalogue: Catalogue, now: datetime
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Every statement's id, the learning events to store, and the ids acknowledged and ignored.
    Raises StatementError for the first statement that cannot be mapped (the whole batch is refused)."""
    ids: list[str] = []
    events: list[dict[str, Any]] = []
    ignored: list[str] = []
    for index, statement in enumerate(statements):
        try:
            statement_id, event = map_statement(statement, catalogue, now)
        except ValueError as exc:
            raise StatementError(index, str(exc)) from None
        if statement_id in ids:
            raise StatementError(index, f"id: {statement_id} appears twice in the batch")
        ids.append(statement_id)
        if event is None:
            ignored.append(statement_id)
        else:
            events.append(event)
    return ids, events, ignored


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
