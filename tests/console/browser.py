"""An in-process client for the console: httpx over ASGI with a cookie jar, like a browser without
JavaScript, and the helpers to log in and to post a page's form."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Client:
    def __init__(self, app: Any, base_url: str = "http://service") -> None:
        self.app = app
        self.base_url = base_url
        self.jar = httpx.Cookies()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(kwargs.pop("client_ip", "192.0.2.1"), 4321))
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url, cookies=self.jar) as client:
                response = await client.request(method, path, **kwargs)
                self.jar = httpx.Cookies(client.cookies)
                return response

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, data=data, **kwargs)

    def csrf(self, path: str) -> str:
        """The CSRF token of the first form on the page at ``path``."""
        page = self.get(path)
        found = CSRF.search(page.text)
        assert found, page.text
        return unescape(found.group(1))

    def login(self, username: str, password: str, **kwargs: Any) -> httpx.Response:
        token = self.csrf("/console/login")
        return self.post("/console/login", {"csrf": token, "username": username, "password": password}, **kwargs)
