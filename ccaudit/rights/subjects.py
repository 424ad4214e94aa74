"""Who a request is about: an account, and every identifier that names it in the tables.

A subject is found by account id, and by identifiers the register declares personal (a profile id,
an e-mail address a platform sends in audit ``details``). ``subject_id`` values are each platform's
own: the register's ``subjects`` say how a platform writes an account there (``member:{account_id}``),
so the identifiers include those forms for every platform in scope, and rows where the person is the
subject are reached as well as rows where they acted. The profile ids an account acted under are
found in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ccaudit.register import ProcessingRegister
from ccaudit.store import Store
from ccaudit.store.client import query_rows


@dataclass(frozen=True, slots=True)
class Subject:
    """A person as the tables name them. ``platform`` None: every platform."""

    account_ids: tuple[str, ...]
    identifiers: tuple[str, ...]
    platform: str | None = None
    # The identifiers given besides the accounts (an e-mail address): only these are looked for in
    # the details' personal keys, where an account id would not be.
    extra: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"account_ids": list(self.account_ids), "identifiers": list(self.identifiers), "platform": self.platform}


def platforms_in(store: Store, register: ProcessingRegister) -> set[str]:
    """Platforms the register names and platforms that sent audit events."""
    seen = {str(r[0]) for r in query_rows(store.client, f"SELECT DISTINCT platform FROM {store.database}.audit_events")}
    return seen | set(register.platforms) | set(register.subjects) - {"default"}


def find_subject(
    store: Store,
    register: ProcessingRegister,
    account_ids: Iterable[str] = (),
    identifiers: Iterable[str] = (),
    platform: str | None = None,
) -> Subject:
    """The subject of these accounts and these other identifiers (at least one of either)."""
    accounts = sorted({a for a in account_ids if a})
    extra = {i for i in identifiers if i}
    if not accounts and not extra:
        raise ValueError("a subject needs an account id or an identifier")
    ids = set(accounts) | extra
    platforms = {platform} if platform else platforms_in(store, register) | {"default"}
    for name in platforms:
        forms = register.subject_ids(name)
        for account in accounts:
            ids.update(forms.subject_ids_of(account))
    if accounts:
        ids.update(profiles_of(store, accounts, platform))
    ids.discard("")
    return Subject(tuple(accounts), tuple(sorted(ids)), platform, tuple(sorted(extra)))


def profiles_of(store: Store, accounts: Sequence[str], platform: str | None = None) -> set[str]:
    """The profile ids these accounts acted under (on ``platform``, or any)."""
    scope = " AND platform = {platform:String}" if platform else ""
    rows = query_rows(
        store.client,
        # The copy filed by person: its sorting key starts with the actor (audit_events' bloom filter
        # reads an index entry per granule of the whole trail). A set from a subquery: the engine
        # never finished an IN over an array literal of more than 65,535 strings (a retention run
        # asks for up to its CHUNK of accounts).
        f"SELECT DISTINCT actor_profile_id FROM {store.database}.audit_by_person WHERE kind = 'actor' "
        "AND key IN (SELECT arrayJoin({accounts:Array(String)})) AND actor_account_id = key "
        "AND actor_profile_id != ''" + scope,
        {"accounts": list(accounts), "platform": platform or ""},
    )
    return {str(r[0]) for r in rows}
