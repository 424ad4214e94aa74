"""The context API app code calls during a request: who acts, on whose data, and what happened.

The middleware puts one mutable ``RequestContext`` in a context variable for each request. It holds
a mutable object rather than values because frameworks run sync endpoints in a thread with a *copy*
of the context: setting a variable there would be lost, mutating the shared object is not.

Outside a request these functions do nothing and return False.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from ccaudit.capture.identity import Identity
from ccaudit.consent.receipts import make_receipt
from ccaudit.events import ConsentEvent, LearningEvent
from ccaudit.ids import new_id
from ccaudit.wire import LEARNING_FIELDS, LEARNING_REQUIRED, MAX_DETAILS, MAX_SHORT

AuthEvent = Literal["login", "login_failed", "logout"]
Outcome = Literal["success", "denied", "failed", "error", "aborted"]
ConsentAction = Literal["accept_all", "custom", "reject_all", "withdraw"]
ConsentMethod = Literal["banner", "api"]
LearningVerb = Literal[
    "registered", "initialized", "progressed", "completed", "passed", "failed", "terminated", "satisfied", "waived"
]  # fmt: skip

_MAX_TEXT = 512


def _text(value: object, limit: int = MAX_SHORT) -> str:
    return str(value)[:limit] if value is not None else ""


@dataclass(slots=True)
class AuditNote:
    """One ``record_audit`` call: what app code says happened."""

    action: str
    resource_type: str = ""
    resource_id: str = ""
    subject_id: str = ""
    outcome: Outcome | None = None
    details: dict[str, str] = field(default_factory=dict)


class RequestContext:
    """Per-request state shared by the middleware and app code.

    A plain slotted class: one is made for every request, so it is kept as cheap as possible
    (``notes`` stays None until the first ``record_audit``, ``consents`` until the first
    ``record_consent``).
    """

    __slots__ = ("auth", "consents", "identity", "learning", "learning_kept", "notes", "subject_id")

    def __init__(self) -> None:
        self.identity: Identity | None = None
        self.subject_id = ""
        self.auth: AuthEvent | None = None
        self.notes: list[AuditNote] | None = None
        # Receipts waiting for the end of the request, which adds the account id and GPC/DNT flags.
        self.consents: list[ConsentEvent] | None = None
        # Learning events from record_learning, and how many of them are in the spool already.
        self.learning: list[LearningEvent] | None = None
        self.learning_kept = 0


_current: ContextVar[RequestContext | None] = ContextVar("ccaudit_request", default=None)


def current_context() -> RequestContext | None:
    """The context of the request being handled, or None outside one."""
    return _current.get()


def set_actor(
    account_id: str | None = None,
    *,
    profile_id: str | None = None,
    organisation: str | None = None,
    role: str | None = None,
) -> bool:
    """Say who is acting: the platform-local account, the global profile, organisation and role.

    Fields left as None keep what the resolver found.
    """
    ctx = _current.get()
    if ctx is None:
        return False
    base = ctx.identity or Identity()
    ctx.identity = Identity(
        account_id=_text(account_id) if account_id is not None else base.account_id,
        profile_id=_text(profile_id) if profile_id is not None else base.profile_id,
        organisation=_text(organisation) if organisation is not None else base.organisation,
        role=_text(role) if role is not None else base.role,
    )
    return True


def set_subject(subject_id: str) -> bool:
    """Say whose personal data this request reads or changes (for "who saw my data", art. 15)."""
    ctx = _current.get()
    if ctx is None:
        return False
    ctx.subject_id = _text(subject_id)
    return True


def record_audit(
    action: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    subject_id: str | None = None,
    outcome: Outcome | None = None,
    details: dict[str, object] | None = None,
) -> bool:
    """Record a semantic audit event for this request.

    The first call enriches the request's own event (action, resource, details); each further call
    adds one more event with the same request id. ``outcome`` defaults to the response's outcome.
    Details are stringified and capped (32 keys of at most 256 characters, values of at most 512):
    never put a body in them. Names and ids are cut to 256 characters, as the wire format takes them.
    """
    ctx = _current.get()
    if ctx is None:
        return False
    clean: dict[str, str] = {}
    for key, value in list((details or {}).items())[:MAX_DETAILS]:
        clean[_text(key)] = _text(value, _MAX_TEXT)
    if ctx.notes is None:
        ctx.notes = []
    ctx.notes.append(
        AuditNote(
            action=_text(action) or "app.event",
            resource_type=_text(resource_type),
            resource_id=_text(resource_id),
            subject_id=_text(subject_id),
            outcome=outcome,
            details=clean,
        )
    )
    return True


def record_account(account_id: str, state: Literal["closed", "deactivated"], **details: object) -> bool:
    """Say that this request closed or deactivated ``account_id``: an audit event the service's
    retention job acts on, erasing the account's data at once or after the register's grace
    (``closure_grace_days``; see docs/rights.md). Returns False outside a request."""
    return record_audit(f"account.{state}", resource_type="account", resource_id=account_id, details=dict(details))


def record_auth(event: AuthEvent, account_id: str | None = None) -> bool:
    """Mark this request as an authentication event: login, failed login or logout.

    Use it where the configured login/logout paths cannot tell (a form that answers 200 on failure).
    """
    ctx = _current.get()
    if ctx is None:
        return False
    ctx.auth = event
    if account_id is not None:
        set_actor(account_id)
    return True


def record_consent(
    consent_id: str,
    accepted: Iterable[str],
    rejected: Iterable[str],
    *,
    action: ConsentAction,
    method: ConsentMethod = "api",
    revision: int,
    services_accepted: Iterable[str] = (),
    services_rejected: Iterable[str] = (),
    language: str = "",
) -> bool:
    """Record a consent receipt: for platforms whose own consent manager took the visitor's choice.

    Call it when a consent is given, changed or withdrawn (``action="withdraw"`` when a category
    accepted before is now rejected). ``consent_id`` is the pseudonymous id your consent manager
    keeps for the visitor (a UUID); ``accepted``/``rejected`` are category names (``analytics``),
    ``revision`` the policy revision the visitor saw. At the end of the request the receipt gets the
    account id of the request's actor (if logged in) and the request's ``Sec-GPC``/``DNT`` flags,
    and is shipped like an audit event. Never an IP address or user agent.

    Raises ValueError (``ReceiptError``) at once for an invalid receipt, so it cannot fail later at
    the service; returns False outside a request.
    """
    ctx = _current.get()
    if ctx is None:
        return False
    receipt = make_receipt(
        consent_id=consent_id,
        accepted=accepted,
        rejected=rejected,
        action=action,
        method=method,
        revision=revision,
        services_accepted=services_accepted,
        services_rejected=services_rejected,
        language=language,
    )
    if ctx.consents is None:
        ctx.consents = []
    ctx.consents.append(receipt)
    return True


def record_learning(
    verb: LearningVerb,
    *,
    learner: str,
    module: str,
    lesson: str = "",
    organisation: str | None = None,
    registration: str = "",
    profession: str = "",
    progress: int | None = None,
    score: float | None = None,
    reason: str | None = None,
    duration_ms: float | None = None,
) -> bool:
    """Record a learner's step in a module (stream ``learning``) for this request.

    ``verb`` is one of registered, initialized, progressed (with ``progress`` 0-100), completed,
    passed and failed (with ``score``, scaled -1..1, optional), terminated, satisfied and waived
    (``reason``, required for waived); ``lesson`` '' means the module itself; ``registration`` is the
    attempt id; ``profession`` the learner's profession now. ``organisation`` defaults to the
    request's actor's. The event carries the request's id and is kept durably like the request's
    audit event: in the spool before the response starts.

    Raises ValueError at once for a field the verb does not carry or lacks, so it cannot fail later
    at the service; returns False outside a request.
    """
    allowed = LEARNING_FIELDS.get(verb)
    if allowed is None:
        raise ValueError(f"verb: {verb!r} is not one of {', '.join(LEARNING_FIELDS)}")
    given = {"progress": progress, "score": score, "reason": reason, "duration_ms": duration_ms}
    for name, value in given.items():
        if value is not None and name not in allowed:
            raise ValueError(f"{name}: the verb {verb!r} carries no {name}")
        if value is None and name in LEARNING_REQUIRED.get(verb, ()):
            raise ValueError(f"{name}: the verb {verb!r} needs a {name}")
    if not learner or not module:
        raise ValueError("learner and module: both are needed")
    if progress is not None and not 0 <= progress <= 100:
        raise ValueError("progress: from 0 to 100")
    if score is not None and not -1.0 <= score <= 1.0:
        raise ValueError("score: a scaled score, from -1 to 1")
    ctx = _current.get()
    if ctx is None:
        return False
    now_ms = time.time_ns() // 1_000_000
    event = LearningEvent(
        new_id(now_ms),
        now_ms,
        verb,
        _text(learner),
        "" if organisation is None else _text(organisation),
        _text(module),
        _text(lesson),
        _text(registration),
        _text(profession),
        progress,
        score,
        None if reason is None else _text(reason, 1024),
        duration_ms,
        "",
    )
    if ctx.learning is None:
        ctx.learning = []
    ctx.learning.append(event)
    return True
