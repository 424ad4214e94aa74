"""Accounts in memory: unsaved ``User`` instances served by an authentication backend of our own."""

from __future__ import annotations

import hmac
from typing import Any

from django.contrib.auth.models import User

_PASSWORD = "demo"


def _user(pk: int, username: str, staff: bool) -> User:
    return User(pk=pk, username=username, is_staff=staff, is_active=True)


USERS = {
    1: _user(1, "alice", staff=True),
    2: _user(2, "bob", staff=False),
    3: _user(3, "carol", staff=False),
}
BY_NAME = {u.username: u for u in USERS.values()}


class MemoryBackend:
    def authenticate(self, request: Any, username: str = "", password: str = "") -> User | None:
        user = BY_NAME.get(username)
        if user is None or not hmac.compare_digest(password.encode(), _PASSWORD.encode()):
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        return USERS.get(user_id)
