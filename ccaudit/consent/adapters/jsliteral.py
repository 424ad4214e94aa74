"""A small, safe reader for the flat JavaScript object literals some consent managers store in cookies.

Cookiebot writes ``{stamp:'…',necessary:true,statistics:false,method:'explicit',ver:1,utc:1764410000000}``:
JavaScript, not JSON (unquoted keys, single-quoted strings), so ``json`` cannot read it and ``eval`` must
not. This reads exactly a flat object: keys are identifiers or quoted strings; values are quoted
strings, ``true``/``false``/``null`` or decimal numbers, spaces allowed around them. Nested objects,
arrays, escapes, a quoted string holding ``,`` (or a quoted key holding ``:``) and duplicate keys make
it unreadable (None): no consent manager we read writes them (stamps are base64, the rest are words and
numbers), and a cookie that has them was not written by one.

The literal is split on ``,`` and each member on its first ``:`` (C-speed string methods, one pass each);
the patterns are anchored character classes without nesting. Time is linear in the input.
"""

from __future__ import annotations

import re

JsValue = str | int | float | bool | None

_MAX_MEMBERS = 64
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,63}")
_NUMBER = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?")
_WORDS: dict[str, JsValue] = {"true": True, "false": False, "null": None}
_SPACE = " \t"


def _quoted(text: str) -> str | None:
    # 'abc' or "abc" with nothing inside that would need an escape.
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        inner = text[1:-1]
        if text[0] not in inner and "\\" not in inner and "\n" not in inner:
            return inner
    return None


def _value(text: str) -> tuple[bool, JsValue]:
    if text in _WORDS:
        return True, _WORDS[text]
    if _NUMBER.fullmatch(text):
        return True, float(text) if "." in text else int(text)
    inner = _quoted(text)
    return inner is not None, inner


def parse_object(text: str) -> dict[str, JsValue] | None:
    """The flat object literal ``text``, or None if it is anything else."""
    text = text.strip(_SPACE)
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    body = text[1:-1].strip(_SPACE)
    if not body:
        return {}
    members = body.split(",", _MAX_MEMBERS)
    if len(members) > _MAX_MEMBERS:
        return None
    result: dict[str, JsValue] = {}
    for member in members:
        key_text, colon, value_text = member.partition(":")
        key_text = key_text.strip(_SPACE)
        key = key_text if _IDENTIFIER.fullmatch(key_text) else _quoted(key_text)
        if not colon or key is None or key in result:
            return None
        ok, value = _value(value_text.strip(_SPACE))
        if not ok:
            return None
        result[key] = value
    return result
