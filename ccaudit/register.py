"""The processing register: per platform, which event streams are recorded, why, on what legal
basis, behind which consent category, and for how long.

It is configuration (``CCAUDIT_REGISTER_FILE``, JSON), validated at start, and the code enforces
what it declares: capture records a stream only where the register declares it, page views wait for
the declared consent category, ingest refuses events of an undeclared stream, and retention comes
from here. ``GET /v1/register`` and ``ccaudit register`` show it.

Purposes are those of the privacy statement, §4:
P1 identification and authorisation, P2 management (helpdesk, troubleshooting, audit of users'
activity), P3 logging of operations on personal data, P4 communication, P5 analytics (reports,
statistics, follow-up module access).

    {"default": {"audit": {"purposes": ["P2", "P3"], "legal_basis": "legitimate_interests",
                            "retention_days": 730},
                 "usage": {"purposes": ["P5"], "legal_basis": "consent",
                           "consent_category": "analytics", "retention_days": 30}},
     "platforms": {"library": {"audit": {...}}}}

A platform listed under ``platforms`` uses its own declarations instead of the default ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Stream = Literal["audit", "usage", "learning", "consent"]
STREAMS: frozenset[str] = frozenset(get_args(Stream))
Purpose = Literal["P1", "P2", "P3", "P4", "P5"]
LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"
]

PURPOSES: dict[str, str] = {
    "P1": "identification and authorisation (privacy statement §4.1)",
    "P2": "management: helpdesk, troubleshooting and audit of users' activity (§4.2)",
    "P3": "logging of operations on personal data (§4.3)",
    "P4": "communication (§4.4)",
    "P5": "analytics: reports and statistics of use, follow-up module access (§4.5)",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Declaration(_Frozen):
    """One stream of one platform."""

    purposes: Annotated[tuple[Purpose, ...], Field(min_length=1)]
    legal_basis: LegalBasis
    consent_category: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] | None = None
    retention_days: Annotated[int, Field(ge=1, le=36500)]
    description: str = ""
    # Retention by last use (R9): an account unused this long has this stream's rows erased as
    # ``on_erase`` says; a closed or deactivated account, ``closure_grace_days`` after its closure.
    inactive_days: Annotated[int, Field(ge=1, le=36500)] = 730
    closure_grace_days: Annotated[int, Field(ge=0, le=366)] = 0
    # What erasure does to this stream's rows: delete them, or keep them as evidence with the person
    # pseudonymised (a keyed hash whose key is destroyed) and the other identifying values removed.
    on_erase: Literal["delete", "pseudonymise"] = "delete"

    @model_validator(mode="after")
    def _consent_needs_a_category(self) -> Declaration:
        if (self.legal_basis == "consent") != (self.consent_category is not None):
            raise ValueError("consent_category is required with legal_basis 'consent', and only then")
        return self


PlatformStreams = dict[Stream, Declaration]


class SubjectIds(_Frozen):
    """How a platform names its people, so that a subject request reaches every row about them.

    ``subject_ids``: the forms its ``subject_id`` values take for an account, ``{account_id}`` standing
    for the account id (``member:{account_id}``). ``personal_details``: keys of audit ``details``
    whose values identify a person (an e-mail address), found by a request and removed by erasure.
    """

    subject_ids: tuple[Annotated[str, Field(pattern=r"\{account_id\}")], ...] = ("{account_id}",)
    personal_details: tuple[Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")], ...] = (
        "email", "e-mail", "name", "username",
    )  # fmt: skip

    def subject_ids_of(self, account_id: str) -> tuple[str, ...]:
        return tuple(form.replace("{account_id}", account_id) for form in self.subject_ids)


class ProcessingRegister(_Frozen):
    """Default declarations, and per-platform ones that replace them."""

    default: PlatformStreams
    platforms: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")], PlatformStreams] = Field(
        default_factory=dict
    )
    # Per platform ("default" for the others): how its subject ids map to accounts.
    subjects: dict[str, SubjectIds] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _usage_is_consent_based(self) -> ProcessingRegister:
        # Usage analytics of visitors needs their consent (R3): the register may not declare otherwise.
        for name, streams in [("default", self.default), *self.platforms.items()]:
            usage = streams.get("usage")
            if usage is not None and usage.legal_basis != "consent":
                raise ValueError(f"{name}: the usage stream must have legal_basis 'consent'")
        return self

    def subject_ids(self, platform: str) -> SubjectIds:
        """How ``platform`` names its people (``subjects``; its own entry, else ``default``'s)."""
        return self.subjects.get(platform) or self.subjects.get("default") or SubjectIds()

    def personal_details(self) -> tuple[str, ...]:
        """Every platform's personal details keys (a request may span platforms)."""
        found = {k for ids in [SubjectIds(), *self.subjects.values()] for k in ids.personal_details}
        return tuple(sorted(found))

    def streams(self, platform: str) -> PlatformStreams:
        return self.platforms.get(platform, self.default)

    def declaration(self, platform: str, stream: str) -> Declaration | None:
        for name, declaration in self.streams(platform).items():
            if name == stream:
                return declaration
        return None

    def describe(self) -> dict[str, Any]:
        """The register as JSON-able data, with the purposes spelled out."""
        return {"purposes": PURPOSES, **self.model_dump(mode="json")}


DEFAULT_REGISTER = ProcessingRegister(
    default={
        "audit": Declaration(
            purposes=("P2", "P3"),
            legal_basis="legitimate_interests",
            retention_days=730,
            on_erase="pseudonymise",
            description="who did what, when, from where: admins' and users' operations (§3, §4.2, §4.3)",
        ),
        "usage": Declaration(
            purposes=("P5",),
            legal_basis="consent",
            consent_category="analytics",
            retention_days=30,
            description="anonymous page views: browser, OS, pages, country (§3)",
        ),
        "learning": Declaration(
            purposes=("P5",),
            legal_basis="public_task",
            retention_days=730,
            description=(
                "learners' progress in modules and lessons, with their profession: access to follow-up modules "
                "and learning statistics (§3, §4.5); kept like the audit trail"
            ),
        ),
        "consent": Declaration(
            purposes=("P3",),
            legal_basis="legal_obligation",
            retention_days=1825,
            on_erase="pseudonymise",
            description="receipts proving each consent given, changed or withdrawn (GDPR art. 7(1))",
        ),
    }
)


def load_register(path: Path) -> ProcessingRegister:
    """Read and validate a register file (JSON). Raises ValueError naming the problem."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    try:
        return ProcessingRegister.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        raise ValueError(f"{path}: {where + ': ' if where else ''}{err['msg']}") from None
