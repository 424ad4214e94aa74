"""A small, safe reader for the flat JavaScript object literals some consent managers store in cookies.

Cookiebot writes ``{stamp:'…',necessary:true,statistics:false,method:'explicit',ver:1,utc:1764410000000}``:
JavaScript, not JSON (unquoted keys, single-quoted strings), so ``json`` cannot read it and ``eval`` must
not. This reads exactly a flat object: keys are identifiers or quoted strings; values are quoted
strings, ``true``/``false``/``null`` or decimal numbers. Nested objects, arrays, escapes inside strings,
duplicate keys and anything else make it unreadable (None): no consent manager we read writes them, and
a cookie that has them was not written by one.

It is a single left-to-right scan; the patterns are anchored character classes without nesting, so the
time is linear in the input whatever it holds.
"""

from __future__ import annotations

import re

JsValue = str | int | float | bool | None

_SPACE = " \t"
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?")
_WORDS: dict[str, JsValue] = {"true": True, "false": False, "null": None}


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _string(text: str, at: int) -> tuple[str, int] | None:
    # text[at] is the opening quote; returns the contents and the index after the closing quote.
    quote = text[at]
    end = text.find(quote, at + 1)
    if end == -1:
        return None
    contents = text[at + 1 : end]
    if "\\" in contents or "\n" in contents:
        return None
    return contents, end + 1


def _key(text: str, at: int) -> tuple[str, int] | None:
    if at < len(text) and text[at] in "'\"":
        return _string(text, at)
    match = _IDENTIFIER.match(text, at)
    return (match.group(), match.end()) if match else None


def _value(text: str, at: int) -> tuple[JsValue, int] | None:
    if at >= len(text):
        return None
    if text[at] in "'\"":
        return _string(text, at)
    word = _IDENTIFIER.match(text, at)
    if word:
        return (_WORDS[word.group()], word.end()) if word.group() in _WORDS else None
    number = _NUMBER.match(text, at)
    if number:
        literal = number.group()
        return (float(literal) if "." in literal else int(literal)), number.end()
    return None


def parse_object(text: str) -> dict[str, JsValue] | None:
    """The flat object literal ``text``, or None if it is anything else."""
    at = _skip_space(text, 0)
    if not text.startswith("{", at):
        return None
    result: dict[str, JsValue] = {}
    at = _skip_space(text, at + 1)
    if text.startswith("}", at):
        return result if _skip_space(text, at + 1) == len(text) else None
    while True:
        key = _key(text, at)
        if key is None:
            return None
        name, at = key
        at = _skip_space(text, at)
        if not text.startswith(":", at):
            return None
        value = _value(text, _skip_space(text, at + 1))
        if value is None or name in result:
            return None
        result[name], at = value
        at = _skip_space(text, at)
        if text.startswith(",", at):
            at = _skip_space(text, at + 1)
        elif text.startswith("}", at):
            return result if _skip_space(text, at + 1) == len(text) else None
        else:
            return None
