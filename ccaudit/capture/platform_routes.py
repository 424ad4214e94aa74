"""What the middleware serves itself, on the platform's own origin (never passed to the app).

Under ``CCAUDIT_CONSENT_PATH_PREFIX`` (default ``/.ccaudit``):

- ``GET {prefix}/banner.js``: the consent banner (``ccaudit.consent.banner``), with an ETag;
- ``POST {prefix}/consent``: a receipt from the banner, JSON, at most 8 KiB. Validated, turned into
  a ``ConsentEvent`` (account id from the resolver when logged in, ``Sec-GPC``/``DNT`` from the
  request) and written to the local spool before the 204 is sent, like the platform's audit
  events (``CCAUDIT_DURABILITY``; with ``power`` also fsynced, in a worker thread on ASGI; when the
  spool cannot take it, it waits in memory); or 400 with the reason. The body must be
  ``application/json`` and the request not cross-site, so another site cannot file receipts in a
  visitor's name with a plain form;

and ``GET /.well-known/gpc.json``, the W3C Global Privacy Control support resource.

Serving them here means the ccaudit service never has to be reachable from browsers, and no CORS.
The handler is framework-neutral (``handle``); ``asgi`` and ``wsgi`` adapt it. Adapters test
``path.startswith(routes.paths)`` first: one call on every request, and the only one for other paths.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from ccaudit.capture.core import EventSink
from ccaudit.capture.identity import Identity, Resolver
from ccaudit.consent.banner import render_banner
from ccaudit.consent.receipts import ReceiptError, header_flag, make_receipt
from ccaudit.events import ConsentEvent
from ccaudit.settings import Settings

log = logging.getLogger("ccaudit.capture")

MAX_RECEIPT_BYTES = 8192
GPC_PATH = "/.well-known/gpc.json"
# When this deployment's handling of GPC last changed (the spec's lastUpdate): GPC denies analytics.
GPC_LAST_UPDATE = "2026-11-29"
# Request headers the handler reads (lower-case); adapters pass only these.
WANTED_HEADERS = frozenset({"content-type", "sec-gpc", "dnt", "if-none-match", "sec-fetch-site"})

_RECEIPT_KEYS = frozenset(
    {"consent_id", "accepted", "rejected", "services_accepted", "services_rejected", "action", "revision",
     "banner_text_sha256", "language"}
)  # fmt: skip
_REQUIRED = frozenset({"consent_id", "accepted", "rejected", "action", "revision", "banner_text_sha256", "language"})

Response = tuple[int, list[tuple[str, str]], bytes]
_NO_STORE = ("Cache-Control", "no-store")


def _error(status: int, reason: str, *extra: tuple[str, str]) -> Response:
    body = json.dumps({"error": reason}).encode()
    return status, [("Content-Type", "application/json"), _NO_STORE, *extra], body


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReceiptError(f"{key}: expected a list of strings")
    return value


class PlatformRoutes:
    """The banner, the receipt endpoint and gpc.json, for one middleware instance."""

    def __init__(self, settings: Settings, sink: EventSink, resolver: Resolver | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.resolver = resolver
        self.prefix = settings.consent_path_prefix
        # What adapters test with one startswith call.
        self.paths: tuple[str, ...] = (self.prefix + "/", GPC_PATH)
        self.banner = render_banner(settings)
        self._category_names = frozenset(c.name for c in self.banner.categories)
        self._required = frozenset(c.name for c in self.banner.categories if c.required)
        self.receipts = 0  # receipts recorded
        self.refused = 0  # receipts refused (400/403)
        keep = getattr(sink, "keep", None)
        self._keep = keep if settings.durability != "deferred" and callable(keep) else None
        self.waits_for_disk = self._keep is not None and settings.durability == "power"

    # --- the framework-neutral handler ---

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None, identity: Identity | None
    ) -> Response | None:
        """The response for one of our paths, or None when ``path`` is not ours.

        ``headers`` holds lower-case names (at least those in WANTED_HEADERS); ``body`` is None when
        the request body is larger than MAX_RECEIPT_BYTES.
        """
        if path == GPC_PATH:
            return self._gpc(method)
        if not path.startswith(self.prefix + "/"):
            return None
        name = path[len(self.prefix) + 1 :]
        if name == "banner.js":
            return self._banner(method, headers)
        if name == "consent":
            return self._consent(method, headers, body, identity)
        return _error(404, "not found")

    def _gpc(self, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _error(405, "method not allowed", ("Allow", "GET, HEAD"))
        body = json.dumps({"gpc": True, "lastUpdate": GPC_LAST_UPDATE}).encode()
        return 200, [("Content-Type", "application/json"), ("Cache-Control", "public, max-age=86400")], body

    def _banner(self, method: str, headers: Mapping[str, str]) -> Response:
        if method not in ("GET", "HEAD"):
            return _error(405, "method not allowed", ("Allow", "GET, HEAD"))
        banner = self.banner
        # no-cache: browsers keep the script but revalidate it, so a new policy revision shows at once.
        common = [("ETag", banner.etag), ("Cache-Control", "public, no-cache")]
        if banner.etag in (tag.strip() for tag in headers.get("if-none-match", "").split(",")):
            return 304, common, b""
        kinds = [("Content-Type", "text/javascript; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
        return 200, kinds + common, banner.script

    def _consent(
        self, method: str, headers: Mapping[str, str], body: bytes | None, identity: Identity | None
    ) -> Response:
        if method != "POST":
            return _error(405, "method not allowed", ("Allow", "POST"))
        if headers.get("sec-fetch-site", "") == "cross-site":
            self.refused += 1
            return _error(403, "receipts are taken from this site's own pages only")
        if headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            self.refused += 1
            return _error(400, "the body must be application/json")
        if body is None:
            self.refused += 1
            return _error(400, f"the body is larger than {MAX_RECEIPT_BYTES} bytes")
        try:
            receipt = self._receipt(body, headers, identity)
        except ReceiptError as exc:
            self.refused += 1
            return _error(400, str(exc))
        self._record(receipt)
        self.receipts += 1
        return 204, [_NO_STORE], b""

    def _record(self, receipt: ConsentEvent) -> None:
        """On disk before the answer, by default; in memory when the spool cannot take it (fail-open)."""
        if self._keep is None or not self._keep([receipt]):
            self.sink.emit(receipt)
        elif self.waits_for_disk:
            sync = getattr(self.sink, "sync", None)
            if sync is not None:
                sync()  # never raises; a failure is logged by the recorder, the receipt is kept either way

    def _receipt(self, body: bytes, headers: Mapping[str, str], identity: Identity | None) -> ConsentEvent:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ReceiptError("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ReceiptError("the body must be a JSON object")
        unknown = sorted(set(data) - _RECEIPT_KEYS)
        if unknown:
            raise ReceiptError(f"{unknown[0]}: unknown field")
        missing = sorted(_REQUIRED - set(data))
        if missing:
            raise ReceiptError(f"{missing[0]}: missing")
        accepted, rejected = _names(data, "accepted"), _names(data, "rejected")
        strange = sorted((set(accepted) | set(rejected)) - self._category_names)
        if strange:
            raise ReceiptError(f"{strange[0]}: not a category of this banner")
        if self._required & set(rejected):
            raise ReceiptError("rejected: necessary cookies cannot be rejected")
        revision = data["revision"]
        if revision != self.settings.consent_revision or isinstance(revision, bool):
            raise ReceiptError(f"revision: the current policy revision is {self.settings.consent_revision}")
        language, sha = data["language"], data["banner_text_sha256"]
        if not isinstance(language, str) or language not in self.banner.hashes:
            raise ReceiptError(f"language: one of {', '.join(self.banner.hashes)}")
        if sha != self.banner.hashes[language]:
            raise ReceiptError("banner_text_sha256: not the text this banner shows in that language")
        action = data["action"]
        if action not in ("accept_all", "custom", "reject_all", "withdraw"):
            raise ReceiptError("action: one of accept_all, custom, reject_all, withdraw")
        consent_id = data["consent_id"]
        if not isinstance(consent_id, str):
            raise ReceiptError("consent_id: expected a UUID")
        return make_receipt(
            consent_id=consent_id,
            accepted=accepted,
            rejected=rejected,
            services_accepted=_names(data, "services_accepted"),
            services_rejected=_names(data, "services_rejected"),
            action=action,
            method="banner",
            revision=revision,
            banner_text_sha256=sha,
            language=language,
            account_id=identity.account_id if identity is not None else "",
            gpc=header_flag(headers.get("sec-gpc")),
            dnt=header_flag(headers.get("dnt")),
        )

    def _identity(self, request: MutableMapping[str, Any]) -> Identity | None:
        if self.resolver is None:
            return None
        try:
            return self.resolver(request)
        except Exception:
            log.exception("ccaudit: identity resolver failed on a consent receipt")
            return None

    # --- server adapters ---

    async def asgi(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        """Answer an ASGI HTTP request for one of ``paths``."""
        method = scope["method"]
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers") or ():
            name = raw_name.decode("latin-1").lower()
            if name in WANTED_HEADERS:
                headers[name] = raw_value.decode("latin-1")
        body: bytes | None = b""
        if method == "POST":
            body = await _read_asgi_body(receive)
        identity = self._identity(scope) if method == "POST" else None
        if method == "POST" and self.waits_for_disk:  # an fsync: not on the event loop
            found = await asyncio.to_thread(self.handle, method, scope["path"], headers, body, identity)
        else:
            found = self.handle(method, scope["path"], headers, body, identity)
        answer = found or _error(404, "not found")
        status, response_headers, payload = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})

    def wsgi(self, environ: MutableMapping[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer a WSGI request for one of ``paths``."""
        method = str(environ.get("REQUEST_METHOD", ""))
        headers = {
            name: str(environ[key])
            for name in WANTED_HEADERS
            if (key := "HTTP_" + name.upper().replace("-", "_")) in environ
        }
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        body: bytes | None = b""
        if method == "POST":
            body = _read_wsgi_body(environ)
        identity = self._identity(environ) if method == "POST" else None
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        status, response_headers, payload = self.handle(method, path, headers, body, identity) or _error(
            404, "not found"
        )
        start_response(f"{status} {_REASONS.get(status, 'OK')}", response_headers)
        return [b"" if method == "HEAD" else payload]


_REASONS = {200: "OK", 204: "No Content", 304: "Not Modified", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed"}  # fmt: skip


async def _read_asgi_body(receive: Callable[[], Awaitable[MutableMapping[str, Any]]]) -> bytes | None:
    """The request body, or None once it grows past MAX_RECEIPT_BYTES (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away: what came is what there is
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_RECEIPT_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _read_wsgi_body(environ: MutableMapping[str, Any]) -> bytes | None:
    """The request body, or None when it is larger than MAX_RECEIPT_BYTES."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_RECEIPT_BYTES:
        return None
    if length <= 0 and not environ.get("wsgi.input_terminated"):
        return b""  # no length and an unterminated stream: reading could block
    # Without a length (chunked), read one byte past the cap to tell "too large" from "just fits".
    data: bytes = stream.read(length if length > 0 else MAX_RECEIPT_BYTES + 1)
    return None if len(data) > MAX_RECEIPT_BYTES else data
