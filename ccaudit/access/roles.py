"""Who may do what: one table, read by the service's routes, the tests and the docs.

A principal (see ``principal.py``) holds permissions: an account through its role, a personal API
token through its account's role narrowed by the token's scopes, a platform read token through its
scopes, and the deployment's bootstrap credential (``CCAUDIT_ADMIN_TOKEN``) through ``BOOTSTRAP``:
it can make accounts and tokens and reads nothing. Each route names the one permission it needs in
``ROUTES``; a route that is not in the table is refused (a test fails when one exists). The console's
pages need a console session (an account's login), never a bearer credential: ``CONSOLE`` marks a
page open to any logged-in account.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    AUDIT_READ = "audit:read"  # search and export the audit trail (org_admin: own organisations)
    USAGE_READ = "usage:read"  # anonymous usage aggregates
    CONSENT_READ = "consent:read"  # consent records (receipts) of a visitor
    TOKENS_ADMIN = "tokens:admin"  # platform ingest and read tokens
    ACCOUNTS_ADMIN = "accounts:admin"  # accounts and their roles
    OWN_TOKENS = "own-tokens"  # an account's own personal API tokens
    ACCESS_READ = "access:read"  # the access stream: who searched, viewed and exported the audit trail
    SEAL_VERIFY = "seal:verify"  # verify the sealed trail (row ids and seals, no personal data)
    ELIGIBILITY_READ = "eligibility:read"  # a learner's eligibility for a module (learning_manager: own orgs)
    LEARNING_WAIVE = "learning:waive"  # waive a module's rule for a learner of one's own organisations
    CATALOGUE_ADMIN = "catalogue:admin"  # publish a new version of the module catalogue
    LEARNING_STATS = "learning:stats"  # module statistics, small groups suppressed (learning_manager: own orgs)
    SUBJECTS_ADMIN = "subjects:admin"  # data-subject requests: export, erase, restrict, object, rectify


class Role(StrEnum):
    OPERATOR = "operator"
    AUDITOR = "auditor"
    DPO = "dpo"
    ORG_ADMIN = "org_admin"
    LEARNING_MANAGER = "learning_manager"


# Roles whose reads are limited to the organisations of their account.
ORG_SCOPED = frozenset({Role.ORG_ADMIN, Role.LEARNING_MANAGER})

P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {
            P.TOKENS_ADMIN,
            P.ACCOUNTS_ADMIN,
            P.USAGE_READ,
            P.OWN_TOKENS,
            P.ELIGIBILITY_READ,
            P.CATALOGUE_ADMIN,
            P.LEARNING_STATS,
        }
    ),
    Role.AUDITOR: frozenset({P.AUDIT_READ, P.USAGE_READ, P.SEAL_VERIFY, P.OWN_TOKENS}),
    Role.DPO: frozenset({P.CONSENT_READ, P.ACCESS_READ, P.USAGE_READ, P.OWN_TOKENS, P.SUBJECTS_ADMIN}),
    Role.ORG_ADMIN: frozenset({P.AUDIT_READ, P.USAGE_READ, P.OWN_TOKENS}),
    Role.LEARNING_MANAGER: frozenset(
        {P.USAGE_READ, P.OWN_TOKENS, P.ELIGIBILITY_READ, P.LEARNING_WAIVE, P.LEARNING_STATS}
    ),
}
# The bootstrap credential sets a deployment up; it reads no personal data.
BOOTSTRAP = frozenset({P.TOKENS_ADMIN, P.ACCOUNTS_ADMIN})
# What a platform read token may be given (always limited to its own platform).
PLATFORM_READ_SCOPES = frozenset({P.AUDIT_READ, P.USAGE_READ, P.ELIGIBILITY_READ, P.LEARNING_STATS})
# Permissions whose reads an org-scoped role holds for its own organisations only.
OWN_ORGANISATIONS = frozenset({P.AUDIT_READ, P.ELIGIBILITY_READ, P.LEARNING_WAIVE, P.LEARNING_STATS})


@dataclass(frozen=True, slots=True)
class Rule:
    """A route and the permission it needs. ``PUBLIC``: no credential; ``INGEST``: a platform's
    ingest token (checked by the ingest endpoint itself)."""

    method: str
    path: str
    permission: Permission | str
    summary: str


PUBLIC = "public"
INGEST = "ingest"
# A console page any logged-in account may open (a console session; see ccaudit.console).
CONSOLE = "console"

ROUTES: tuple[Rule, ...] = (
    Rule("GET", "/health", PUBLIC, "liveness, store reachability, ingest counters"),
    Rule("GET", "/v1/openapi.json", PUBLIC, "the API's description"),
    Rule("GET", "/v1/register", PUBLIC, "the processing register (no personal data)"),
    Rule("GET", "/v1/verify", P.SEAL_VERIFY, "verify the sealed trail: rows, seals, chain"),
    Rule("POST", "/v1/events", INGEST, "store a batch of events"),
    Rule("POST", "/xapi/statements", INGEST, "store xAPI statements as learning events"),
    Rule("PUT", "/xapi/statements", INGEST, "store one xAPI statement under its id"),
    Rule("GET", "/v1/audit/events", P.AUDIT_READ, "search the audit trail"),
    Rule("GET", "/v1/audit/events/{event_id}", P.AUDIT_READ, "an audit event, every field, with related searches"),
    Rule("GET", "/v1/audit/export", P.AUDIT_READ, "export the audit trail (CSV or JSON Lines)"),
    Rule("GET", "/v1/access/events", P.ACCESS_READ, "the access stream: reads of the audit trail"),
    Rule("GET", "/v1/usage/summary", P.USAGE_READ, "usage aggregates"),
    Rule("GET", "/v1/dashboards", P.USAGE_READ, "the dashboards this credential may open"),
    Rule("GET", "/v1/dashboards/{key}", P.USAGE_READ, "a dashboard's tables (each dashboard names its roles)"),
    Rule("GET", "/v1/dashboards/{key}/{panel}.csv", P.USAGE_READ, "a dashboard panel's table as CSV"),
    Rule("GET", "/v1/subjects/requests", P.SUBJECTS_ADMIN, "data-subject requests, overdue ones marked"),
    Rule("POST", "/v1/subjects/requests", P.SUBJECTS_ADMIN, "a step of a data-subject request"),
    Rule("POST", "/v1/subjects/{action}", P.SUBJECTS_ADMIN, "export, erase, restrict, object or rectify"),
    Rule("GET", "/v1/retention/holds", P.SUBJECTS_ADMIN, "legal holds in force"),
    Rule("POST", "/v1/retention/holds", P.SUBJECTS_ADMIN, "place or lift a legal hold"),
    Rule("POST", "/v1/retention/run", P.SUBJECTS_ADMIN, "run the retention job (or list what it would do)"),
    Rule("POST", "/v1/retention/apply", P.SUBJECTS_ADMIN, "bring the rows' retention in line with the register"),
    Rule("GET", "/v1/consent/{consent_id}", P.CONSENT_READ, "a consent's receipts"),
    Rule("GET", "/v1/eligibility/{learner}/{module}", P.ELIGIBILITY_READ, "whether a learner may start a module, why"),
    Rule("POST", "/v1/eligibility/waivers", P.LEARNING_WAIVE, "waive a module's rule for a learner, with a reason"),
    Rule("POST", "/v1/eligibility/waivers/revocations", P.LEARNING_WAIVE, "take back a learner's waivers of a module"),
    Rule(
        "GET", "/v1/learning/eligible/{module}", P.ELIGIBILITY_READ, "an organisation's learners who may start a module"
    ),
    Rule("GET", "/v1/learning/stats/{module}", P.LEARNING_STATS, "a module's statistics, small groups suppressed"),
    Rule("GET", "/v1/learning/catalogue", P.ELIGIBILITY_READ, "the module catalogue in force"),
    Rule("PUT", "/v1/learning/catalogue", P.CATALOGUE_ADMIN, "publish a new version of the module catalogue"),
    Rule("GET", "/v1/admin/tokens", P.TOKENS_ADMIN, "list platform ingest tokens"),
    Rule("POST", "/v1/admin/tokens", P.TOKENS_ADMIN, "make a platform ingest token"),
    Rule("POST", "/v1/admin/tokens/rotate", P.TOKENS_ADMIN, "rotate a platform's ingest token"),
    Rule("DELETE", "/v1/admin/tokens/{token_id}", P.TOKENS_ADMIN, "revoke a platform ingest token"),
    Rule("GET", "/v1/admin/accounts", P.ACCOUNTS_ADMIN, "list accounts"),
    Rule("POST", "/v1/admin/accounts", P.ACCOUNTS_ADMIN, "make an account"),
    Rule("DELETE", "/v1/admin/accounts/{account_id}", P.ACCOUNTS_ADMIN, "disable an account"),
    Rule("POST", "/v1/admin/read-tokens", P.TOKENS_ADMIN, "make a platform read token"),
    Rule("GET", "/v1/me/tokens", P.OWN_TOKENS, "list my personal API tokens"),
    Rule("POST", "/v1/me/tokens", P.OWN_TOKENS, "make a personal API token"),
    Rule("DELETE", "/v1/me/tokens/{token_id}", P.OWN_TOKENS, "revoke one of my personal API tokens"),
    # The web console (ccaudit.console): a session cookie, not an Authorization header.
    Rule("GET", "/console/login", PUBLIC, "the console's login page"),
    Rule("POST", "/console/login", PUBLIC, "log in to the console (throttled)"),
    Rule("GET", "/console/login/oidc", PUBLIC, "log in to the console through the OpenID Connect provider"),
    Rule("GET", "/console/login/oidc/callback", PUBLIC, "the OpenID Connect provider's return (state checked once)"),
    Rule("GET", "/console/language/{lang}", PUBLIC, "choose the console's language"),
    Rule("GET", "/console/static/{name}", PUBLIC, "the console's stylesheet and the live dashboard's refresh script"),
    Rule("GET", "/console", CONSOLE, "the console's start page"),
    Rule("POST", "/console/logout", CONSOLE, "log out of the console"),
    Rule("GET", "/console/search", P.AUDIT_READ, "search the audit trail in the console"),
    Rule("GET", "/console/events/{event_id}", P.AUDIT_READ, "an audit event in the console"),
    Rule("GET", "/console/export", P.AUDIT_READ, "export a console search (CSV or JSON Lines)"),
    Rule("GET", "/console/saved", P.AUDIT_READ, "my saved searches in the console"),
    Rule("POST", "/console/saved", P.AUDIT_READ, "save a search in the console"),
    Rule("POST", "/console/saved/{search_id}/delete", P.AUDIT_READ, "delete one of my saved searches"),
    Rule("GET", "/console/access", P.ACCESS_READ, "the access stream in the console"),
    Rule("GET", "/console/accounts", P.ACCOUNTS_ADMIN, "accounts in the console"),
    Rule("POST", "/console/accounts", P.ACCOUNTS_ADMIN, "make an account in the console"),
    Rule("POST", "/console/accounts/{account_id}/disable", P.ACCOUNTS_ADMIN, "disable an account in the console"),
    Rule("GET", "/console/tokens", P.TOKENS_ADMIN, "platform ingest tokens in the console"),
    Rule("POST", "/console/tokens/{token_id}/revoke", P.TOKENS_ADMIN, "revoke an ingest token in the console"),
    Rule("GET", "/console/learning", P.ELIGIBILITY_READ, "a learner's progress and eligibility in the console"),
    Rule("POST", "/console/learning/waivers", P.LEARNING_WAIVE, "waive a module's rule in the console"),
    Rule("GET", "/console/requests", P.SUBJECTS_ADMIN, "data-subject requests in the console, overdue ones marked"),
    Rule(
        "GET",
        "/console/verify",
        P.SEAL_VERIFY,
        "the seals and a verification of the sealed trail in the console",
    ),
    # Each dashboard further names the roles (and the permission) that may open it: ccaudit.dashboards.
    Rule("GET", "/console/dashboards", P.USAGE_READ, "the dashboards I may open, in the console"),
    Rule("GET", "/console/dashboards/{key}", P.USAGE_READ, "a dashboard in the console: charts, tables, trends"),
    Rule(
        "GET", "/console/dashboards/{key}/{panel}.csv", P.USAGE_READ, "a dashboard's table as CSV, as the page shows it"
    ),
    Rule("POST", "/console/requests", P.SUBJECTS_ADMIN, "register a data-subject request in the console"),
    Rule("GET", "/console/requests/{request_id}", P.SUBJECTS_ADMIN, "a data-subject request and its forms"),
    Rule("POST", "/console/requests/{request_id}/verify", P.SUBJECTS_ADMIN, "record a requester's identity check"),
    Rule("POST", "/console/requests/{request_id}/extend", P.SUBJECTS_ADMIN, "extend a request's deadline (a reason)"),
    Rule("POST", "/console/requests/{request_id}/export", P.SUBJECTS_ADMIN, "download the subject's export"),
    Rule("POST", "/console/requests/{request_id}/erase", P.SUBJECTS_ADMIN, "erase the subject, per purpose or all"),
    Rule("POST", "/console/requests/{request_id}/restrict", P.SUBJECTS_ADMIN, "restrict the subject's data, or lift"),
    Rule("POST", "/console/requests/{request_id}/object", P.SUBJECTS_ADMIN, "answer the subject's objection"),
    Rule("POST", "/console/requests/{request_id}/rectify", P.SUBJECTS_ADMIN, "correct a profile field of the subject"),
    Rule("POST", "/console/requests/{request_id}/close", P.SUBJECTS_ADMIN, "close a request: done or refused"),
)


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route (``path`` as declared, with its ``{parameters}``)."""
    return next((r for r in ROUTES if r.method == method and r.path == path), None)


def role_table_markdown() -> str:
    """The table the docs show: each route, the permission it needs, and which roles hold it."""
    roles = list(Role)
    head = "| route | needs | " + " | ".join(r.value for r in roles) + " | bootstrap |"
    lines = [head, "|" + "---|" * (len(roles) + 3)]
    for rule in ROUTES:
        marks = []
        for role in roles:
            marks.append("yes" if rule.permission in ROLE_PERMISSIONS[role] else "")
        if rule.permission in (PUBLIC, INGEST):
            marks = ["" for _ in roles]
        elif rule.permission == CONSOLE:
            marks = ["yes" for _ in roles]
        own = " (own organisations)" if rule.permission in OWN_ORGANISATIONS else ""
        # The bootstrap credential is a bearer token: it opens no console page (they need a login).
        boot = "yes" if rule.permission in BOOTSTRAP and not rule.path.startswith("/console") else ""
        lines.append(f"| `{rule.method} {rule.path}` | {rule.permission}{own} | " + " | ".join(marks) + f" | {boot} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m ccaudit.access.roles: the table for docs/access.md
    print(role_table_markdown())
