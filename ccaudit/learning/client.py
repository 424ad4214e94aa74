"""The learning platform's side of eligibility: ask the service, and read your own writes.

A learner finishes a lesson (``record_learning("completed", ...)``) and at once opens the follow-up
module; the platform asks ``GET /v1/eligibility/{learner}/{module}``. The completion must count in
that answer, though it may still be in this process's recorder. ``EligibilityClient.check`` makes
sure of it before it asks:

1. learning events recorded in the current request and not yet kept (the same request records and
   asks) are written to the spool now (``Recorder.keep``), and the request will not write them again;
2. the recorder delivers what it holds (``Recorder.force_flush``): ingest acknowledges a batch only
   once it is inserted, and the engine's learning state is updated in that very insert (a
   materialized view), so every event recorded before the call is in the state the service reads;
3. only then is the question sent. If the recorder cannot deliver within ``flush_timeout`` the
   answer could be stale, so ``check`` raises ``NotSettled`` rather than gate a learner on old data.

Events kept early in step 1 carry no request id (the request's headers are read only when its
response starts) and the organisation named in ``record_learning`` or ``set_actor``.

Standard library only: a platform's web worker needs no HTTP client package for this.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal, Protocol

from ccaudit.capture.context import current_context
from ccaudit.events import Event


class _Recorder(Protocol):
    def keep(self, events: list[Event]) -> bool: ...

    def force_flush(self, timeout: float = 5.0) -> bool: ...


class EligibilityError(Exception):
    """The service did not answer the question (its status and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class NotSettled(EligibilityError):
    """The learning events recorded before the question could not be delivered in time."""


def settle(recorder: _Recorder, timeout: float) -> bool:
    """Steps 1 and 2 above: True when every learning event recorded so far is stored by the service."""
    ctx = current_context()
    if ctx is not None and ctx.learning and ctx.learning_kept < len(ctx.learning):
        organisation = ctx.identity.organisation if ctx.identity is not None else ""
        pending = [e._replace(organisation=e.organisation or organisation) for e in ctx.learning[ctx.learning_kept :]]
        if recorder.keep(list(pending)):
            ctx.learning_kept = len(ctx.learning)
    return recorder.force_flush(timeout)


class EligibilityClient:
    """Asks the service whether a learner may start a module, with a platform read token that holds
    the ``eligibility:read`` scope."""

    def __init__(self, service_url: str, token: str, recorder: _Recorder, *, flush_timeout: float = 5.0,
                 timeout: float = 10.0) -> None:  # fmt: skip
        self.service_url = service_url.rstrip("/")
        self._token = token
        self.recorder = recorder
        self.flush_timeout = flush_timeout
        self.timeout = timeout

    def check(self, learner: str, module: str, *, view: Literal["learner", "full"] = "learner") -> dict[str, Any]:
        """The service's answer (``eligible``, ``rule_version``, ``data_as_of``, and the missing
        conditions, or the whole tree with ``view="full"``), counting every learning event recorded
        before the call. Raises NotSettled or EligibilityError."""
        if not settle(self.recorder, self.flush_timeout):
            raise NotSettled(503, "learning events recorded before the question are not delivered yet")
        path = "/v1/eligibility/{}/{}".format(*(urllib.parse.quote(p, safe="") for p in (learner, module)))
        request = urllib.request.Request(
            f"{self.service_url}{path}?view={view}", headers={"Authorization": f"Bearer {self._token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise EligibilityError(exc.code, exc.read().decode(errors="replace")[:500]) from None
        except (urllib.error.URLError, OSError) as exc:
            raise EligibilityError(503, str(exc)) from None
