"""The JavaScript object-literal reader behind the Cookiebot adapter."""

from __future__ import annotations

import pytest

from ccaudit.consent.adapters.jsliteral import parse_object


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", {}),
        (" { } ", {}),
        ("{a:1,b:-2.5,c:true,d:false,e:null}", {"a": 1, "b": -2.5, "c": True, "d": False, "e": None}),
        ("{stamp:'x==',region:\"nl\"}", {"stamp": "x==", "region": "nl"}),
        ("{ 'quoted key' : 'v' , $k_1 : 0 }", {"quoted key": "v", "$k_1": 0}),
        ("{time:'10:30'}", {"time": "10:30"}),  # a colon inside a value is fine
        ("{s:'a\"b'}", {"s": 'a"b'}),
    ],
)
def test_reads_flat_literals(text: str, expected: dict[str, object]) -> None:
    assert parse_object(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "{",
        "{a:1",
        "a:1}",
        "{a:1,}",  # JavaScript allows a trailing comma; no manager writes one
        "{a:1}{b:2}",
        "{a:1,a:2}",
        "{a:}",
        "{:1}",
        "{1a:1}",
        "{a b:1}",
        "{a:'x,y'}",  # a comma inside a string: refused, not misread
        "{a:'x}",
        "{a:'it\\'s'}",
        "{a:{b:1}}",
        "{a:[1]}",
        "{a:tru}",
        "{a:1e5}",
        "{a:0x10}",
        "{a:" + "9" * 30 + "}",
        "{a:undefined}",
        "{a:!0}",
        "{" + ",".join(f"k{i}:1" for i in range(65)) + "}",
    ],
)
def test_refuses_everything_else(text: str) -> None:
    assert parse_object(text) is None
