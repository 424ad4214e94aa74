"""Reading a small JSON body on the admin routes: bounded in size and in nesting, refused with a 400
(or 413) that names the problem.

The standard library's parser recurses per nesting level, so 100,000 ``[`` raise RecursionError, which
is no ValueError and escaped as a 500; orjson refuses nesting deeper than 1024 with a decode error.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from ccaudit.service.params import BadParameter

# An admin request is a handful of fields; a megabyte is a mistake or an attack.
MAX_ADMIN_BODY = 16 * 1024


class BodyTooLarge(BadParameter):
    def __init__(self, limit: int) -> None:
        super().__init__("body", f"larger than {limit} bytes")


async def json_object(request: Request, limit: int = MAX_ADMIN_BODY) -> dict[str, Any]:
    """The body as a JSON object; BadParameter("body", ...) otherwise, BodyTooLarge past ``limit`` bytes
    (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise BadParameter("body", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadParameter("body", "expected a JSON object")
    return data
