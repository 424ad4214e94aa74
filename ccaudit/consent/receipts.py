"""Consent receipts: building a ``ConsentEvent`` that ingest is sure to accept.

A receipt is validated where it is made, against the same wire model ingest uses: ingest refuses a
batch with any invalid event, so a bad receipt must fail here, in the caller's hands, rather than
take a batch of audit events down with it at the service.

Receipts are rare (one per choice a visitor makes), so validating through pydantic on the request
path costs nothing that matters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from uuid import UUID

from pydantic import ValidationError

from ccaudit.consent.signals import header_flag as header_flag  # receipts record the same flags
from ccaudit.events import ConsentEvent
from ccaudit.ids import new_id
from ccaudit.wire import validate_event

METHODS = ("banner", "api")
ACTIONS = ("accept_all", "custom", "reject_all", "withdraw")
_MAX_ACCOUNT = 256


class ReceiptError(ValueError):
    """A receipt that would not be a valid consent event; the message says which field and why."""


def canonical_consent_id(value: object) -> str:
    """The consent id as stored: a UUID in its canonical lower-case form. Raises ReceiptError."""
    if isinstance(value, str) and 32 <= len(value) <= 45:
        try:
            return str(UUID(value))
        except ValueError:
            pass
    raise ReceiptError("consent_id: expected a UUID")


def _strings(name: str, values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):  # a lone string iterates as characters: a caller's mistake
        raise ReceiptError(f"{name}: expected a list of names, not a string")
    return tuple(values)


def make_receipt(
    *,
    consent_id: str,
    accepted: Iterable[str],
    rejected: Iterable[str],
    action: str,
    method: str,
    revision: int,
    services_accepted: Iterable[str] = (),
    services_rejected: Iterable[str] = (),
    banner_text_sha256: str = "",
    language: str = "",
    account_id: str = "",
    gpc: bool = False,
    dnt: bool = False,
    now_ms: int | None = None,
) -> ConsentEvent:
    """A validated consent event. Raises ReceiptError naming the first bad field."""
    at = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    event = ConsentEvent(
        new_id(at),
        at,
        canonical_consent_id(consent_id),
        account_id[:_MAX_ACCOUNT],
        _strings("accepted", accepted),
        _strings("rejected", rejected),
        _strings("services_accepted", services_accepted),
        _strings("services_rejected", services_rejected),
        method,
        action,
        revision,
        banner_text_sha256,
        language,
        gpc,
        dnt,
    )
    try:
        validate_event(event.to_wire())
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        raise ReceiptError(f"{where}: {err['msg']}" if where else err["msg"]) from None
    return event
