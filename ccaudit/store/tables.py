"""Every table ccaudit creates, with the columns that identify a person in it.

This is the one list retention jobs, subject export and erasure walk: a table that holds personal
data and is missing here would be missed by all of them (deletes do not cascade in ClickHouse, so
materialized-view targets must be listed too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TableInfo:
    name: str
    stream: str
    # Columns holding a person's identifiers (account, profile, subject); empty = no personal data.
    subject_columns: tuple[str, ...]
    purpose: str
    # Subject rights (ccaudit.rights) walk these generically. Columns that do not name the person but
    # identify them next to a pseudonym (an IP, a user agent, details), emptied when rows are kept
    # as evidence; a Map's values are matched and filtered rather than emptied wholesale.
    identifying_columns: tuple[str, ...] = ()
    # Subject columns holding text that may quote an identifier (JSON): matched and rewritten inside.
    text_columns: tuple[str, ...] = ()
    # What erasure does here when the stream is not in the processing register (which says it per
    # stream otherwise): delete the rows, or pseudonymise them.
    on_erase: str = "delete"
    # Rows that only point at other rows by a person's id (a sort key, which cannot be rewritten in
    # place): deleted on erasure whatever the register says for their stream.
    erase_by_delete: bool = False
    # The register's purposes of a table whose stream the register does not declare.
    purposes: tuple[str, ...] = ("P1",)
    # The column of the row's time, for exports (empty: none).
    time_column: str = ""
    # Profile fields a subject may have corrected here (GDPR art. 16): state, not evidence.
    rectifiable_columns: tuple[str, ...] = ()
    # Subject columns that name a person only in some rows: (column, fixed SQL condition of those rows).
    subject_conditions: tuple[tuple[str, str], ...] = ()
    # SQL true for at least every row naming an identifier of ``{ids}`` (an array expression) in a
    # subject column, read through a sorting key (``{db}``: the database): a subject's export reads
    # that range rather than every row. Empty: the subject columns' own skip indexes, if any.
    locator: str = ""
    # Events, one row per event id, never replaced (the ledger lets one row per id in; a replica's
    # redelivery would be an identical copy): a read keeps one row per event id (LIMIT 1 BY), where
    # FINAL would merge every range it reads across the parts.
    append_only: bool = False

    def condition(self, column: str) -> str | None:
        return next((sql for name, sql in self.subject_conditions if name == column), None)


AUDIT_EVENTS = TableInfo(
    name="audit_events",
    stream="audit",
    # resource_id names a person where the resource is an account (account.closed from record_account);
    # elsewhere it is a document's or a module's id, which may equal an account id by chance.
    subject_columns=("actor_account_id", "actor_profile_id", "subject_id", "resource_id"),
    subject_conditions=(("resource_id", "resource_type = 'account'"),),
    purpose="P2 troubleshooting and audit, P3 logging of operations (privacy statement §4.2, §4.3)",
    identifying_columns=("client_ip", "peer_ip", "user_agent", "details", "payload_sha256"),
    time_column="event_time",
    append_only=True,
    # Every event naming a person is filed under them in audit_by_person (migrations 0038, 0040),
    # which points into this table's sorting key. Skip indexes could not serve the OR of four
    # columns: at 2M rows an export read them all, 1.1 s.
    locator="(platform, organisation, event_time, event_id) IN (SELECT platform, organisation, event_time, "
    "event_id FROM {db}.audit_by_person WHERE key IN {ids})",
)

USAGE_EVENTS = TableInfo(
    name="usage_events",
    stream="usage",
    # Anonymous by construction: no IP, account id or user agent; the visitor hash is keyed by a
    # daily salt deleted after two days, so it identifies no one once that salt is gone.
    subject_columns=(),
    purpose="P5 statistics of use (privacy statement §3, §4.5), with analytics consent only",
)

CONSENT_RECEIPTS = TableInfo(
    name="consent_receipts",
    stream="consent",
    # Pseudonymous: the consent id lives in the visitor's cookie; the account id when logged in.
    subject_columns=("consent_id", "account_id"),
    purpose="proof of consent, its changes and its withdrawal (GDPR art. 7(1); privacy statement §3, §4.5)",
    identifying_columns=("payload_sha256",),
    time_column="event_time",
    append_only=True,
)

LEARNING_EVENTS = TableInfo(
    name="learning_events",
    stream="learning",
    # The learner's account on the platform; the profession is theirs too, but names no one by itself.
    subject_columns=("learner",),
    purpose="P5 access to follow-up modules and learning statistics (privacy statement §3, §4.5)",
    append_only=True,
)

LEARNING_STATE = TableInfo(
    name="learning_state",
    stream="learning",
    # Derived from learning_events by a materialized view: erasing a learner must reach it too.
    subject_columns=("learner",),
    purpose="per learner, module and lesson: progress, completion, score (follow-up module access, §4.5)",
    # The learner's latest profession and organisation (argMax states): corrected by a newer state.
    rectifiable_columns=("profession", "organisation"),
    time_column="last_seen",
)

LEARNING_LEARNERS = TableInfo(
    name="learning_learners",
    stream="learning",
    # One row per learner (migration 0044), derived from learning_events like learning_state.
    subject_columns=("learner",),
    purpose="per learner: the latest organisation and profession (follow-up module access, statistics, §4.5)",
    # Each the max of (time, event id, value): corrected by a newer tuple (ccaudit.rights.rectify).
    rectifiable_columns=("profession", "organisation"),
    time_column="last_seen",
)

LEARNING_WAIVERS = TableInfo(
    name="learning_waivers",
    stream="learning",
    # The learner the rule is waived for, and the learning_manager who waived it.
    subject_columns=("learner", "granted_by"),
    purpose="waivers of a follow-up module's rule, with their reason (privacy statement §4.5)",
)

LEARNING_WAIVER_REVOCATIONS = TableInfo(
    name="learning_waiver_revocations",
    stream="learning",
    # The learner whose waiver was taken back, and the learning_manager who took it back.
    subject_columns=("learner", "revoked_by"),
    purpose="waivers taken back, with their reason (privacy statement §4.5)",
)

LEARNING_CATALOGUES = TableInfo(
    name="learning_catalogues",
    stream="learning",
    # The operator who published a version; the catalogue itself names no learner.
    subject_columns=("created_by",),
    purpose="the module catalogue's versions: modules, lessons and the rules of follow-up modules",
)

ACCOUNTS = TableInfo(
    name="accounts",
    stream="access",
    # The people who read the trail (staff, auditors): their login name and role.
    subject_columns=("account_id", "username"),
    purpose="access to ccaudit's read side: who may see what (privacy statement §8)",
    time_column="created_at",
)

API_TOKENS = TableInfo(
    name="api_tokens",
    stream="access",
    # A personal token belongs to an account; a platform read token to no one.
    subject_columns=("account_id",),
    purpose="credentials for reading through the API (privacy statement §8); secrets stored as digests",
    time_column="created_at",
)

CONSOLE_SESSIONS = TableInfo(
    name="console_sessions",
    stream="access",
    # Who was logged in to the console, and when; the cookie's secret is stored only as its digest.
    subject_columns=("account_id",),
    purpose="login sessions of the web console (privacy statement §8); gone two days after they start",
    time_column="created_at",
)

ACCESS_EVENTS = TableInfo(
    name="access_events",
    stream="access",
    # The reader's account, and the filters of the read: they may name the people searched for
    # (an actor, a subject, an IP address), as JSON text.
    subject_columns=("account_id", "filters"),
    purpose="reads of the audit trail: who searched, viewed or exported what (privacy statement §4.3, R6)",
    text_columns=("filters",),
    on_erase="pseudonymise",
    purposes=("P3",),
    time_column="event_time",
)

# Retention and subject rights (migrations 0017, 0018): they name accounts too, so erasure reaches them.
ACCOUNT_LAST_USE = TableInfo(
    name="account_last_use",
    stream="retention",
    subject_columns=("account_id",),
    purpose="when each account was last used, per platform: retention by last use (privacy statement §6)",
    purposes=("P2",),
    time_column="last_use",
)
ACCOUNT_CLOSURES = TableInfo(
    name="account_closures",
    stream="retention",
    subject_columns=("account_id",),
    purpose="accounts a platform closed or deactivated, erased at once or after the register's grace (§6)",
    purposes=("P2",),
    time_column="closed_at",
)
LEGAL_HOLDS = TableInfo(
    name="legal_holds",
    stream="retention",
    subject_columns=("account_id",),
    purpose="legal holds: accounts whose data is kept past retention for a legal claim",
    purposes=("P2",),
    time_column="placed_at",
)
SUBJECT_REQUESTS = TableInfo(
    name="subject_requests",
    stream="rights",
    subject_columns=("account_id",),
    purpose="data-subject requests, their identity check, deadline and answer (GDPR art. 12; §7)",
    on_erase="pseudonymise",
    purposes=("P3",),
    time_column="received_at",
)
SUBJECT_RESTRICTIONS = TableInfo(
    name="subject_restrictions",
    stream="rights",
    subject_columns=("identifier",),
    purpose="restrictions (art. 18) and objections (art. 21): whose data the read paths leave out",
    purposes=("P3",),
    time_column="changed_at",
)

AUDIT_BY_PERSON = TableInfo(
    name="audit_by_person",
    stream="audit",
    # Filled from audit_events by a materialized view (migrations 0038, 0040): each event again under
    # each person it names (`key`), for searches by person. Erasure pseudonymises it like audit_events;
    # `key` is in the sorting key, which cannot be rewritten, so the erased person's rows are filed
    # anew under the pseudonym (ccaudit.rights.rekey).
    subject_columns=("key", *AUDIT_EVENTS.subject_columns),
    subject_conditions=AUDIT_EVENTS.subject_conditions,
    purpose=AUDIT_EVENTS.purpose,
    identifying_columns=AUDIT_EVENTS.identifying_columns,
    time_column="event_time",
    # A row naming a person is a copy of an event filed under them: the events filed under the
    # person, each under every person it names (the view's own filing, as whole sorting keys).
    locator="(kind, key, event_time, event_id) IN (SELECT k.1, k.2, event_time, event_id FROM {db}.audit_by_person "
    "ARRAY JOIN [('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id), "
    "('account', resource_id)] AS k WHERE key IN {ids})",
)

AUDIT_KEYS = TableInfo(
    name="audit_keys",
    stream="audit",
    # Filled from audit_events by a materialized view (migrations 0020, 0038): per request and trace
    # id, where its events lie (rows of actor and subject ids from before 0038 are deleted by it).
    # `key` is in the sorting key: erasure deletes the rows that match.
    subject_columns=("key",),
    purpose="keyed searches of the audit trail (R6); each row points at an audit event and expires with it",
    time_column="event_time",
    erase_by_delete=True,
)

SAVED_SEARCHES = TableInfo(
    name="saved_searches",
    stream="access",
    # The account that saved it, and what it searches for: a name and filters that may name the
    # people searched for (actor:anna, an IP address).
    subject_columns=("account_id", "name", "query"),
    purpose="an account's saved audit searches in the console (privacy statement §4.3, §8); no rows, only filters",
)

ACCOUNT_IDENTITIES = TableInfo(
    name="account_identities",
    stream="access",
    # An account that logs in through the identity provider: the provider's id of that person.
    subject_columns=("account_id", "subject"),
    purpose="login through the organisation's identity provider (privacy statement §8)",
)

# Dashboards' rollups (migrations 0021, 0022, 0042; ccaudit.dashboards): counts and mergeable visitor-count
# states per day (or minute) and platform and page, browser, country, referrer, organisation, action,
# consent answer. No personal data: no account id, IP, user agent or consent id; a visitor state holds
# hashes of daily visitor hashes, which name no one once the day's salt is gone (two days). So they
# are not in PERSONAL_DATA_TABLES: erasure and subject export have nothing to find there, and they
# outlive the raw rows (no retention but usage_minutes' two days, set in its migration).
_ROLLUP = "dashboards' aggregates (privacy statement §3, §4.5): counts per day, no person in them"
USAGE_ROLLUPS = tuple(
    TableInfo(name=name, stream="usage", subject_columns=(), purpose=_ROLLUP, purposes=("P5",))
    for name in ("usage_daily", "usage_pages_daily", "usage_devices_daily", "usage_countries_daily",
                 "usage_referrers_daily", "usage_minutes", "usage_closed")
)  # fmt: skip
AUDIT_DAILY = TableInfo(name="audit_daily", stream="audit", subject_columns=(), purpose=_ROLLUP, purposes=("P2",))
CONSENT_DAILY = TableInfo(name="consent_daily", stream="consent", subject_columns=(), purpose=_ROLLUP)
ROLLUP_TABLES: tuple[TableInfo, ...] = (*USAGE_ROLLUPS, AUDIT_DAILY, CONSENT_DAILY)

PERSONAL_DATA_TABLES: tuple[TableInfo, ...] = (
    AUDIT_EVENTS, AUDIT_BY_PERSON, AUDIT_KEYS, CONSENT_RECEIPTS,
    LEARNING_EVENTS, LEARNING_STATE, LEARNING_LEARNERS, LEARNING_WAIVERS, LEARNING_WAIVER_REVOCATIONS,
    LEARNING_CATALOGUES,
    ACCOUNTS, API_TOKENS, CONSOLE_SESSIONS, ACCESS_EVENTS, SAVED_SEARCHES, ACCOUNT_IDENTITIES,
    ACCOUNT_LAST_USE, ACCOUNT_CLOSURES, LEGAL_HOLDS, SUBJECT_REQUESTS, SUBJECT_RESTRICTIONS,
)  # fmt: skip

# Personal data outside ClickHouse: audit events and consent receipts waiting in a platform host's
# spool (SQLite, Settings.spool_file: CCAUDIT_SPOOL_PATH or the state folder; see
# ccaudit.shipping.spool). The names are the SQLite tables', so subject tooling can query them; the
# spool's `batches` table holds only counts, times and leases, no personal data. Their age is bounded
# by configuration (spool_max_age_days, dead_letter_max_age_days), and subject tooling must reach them.
SPOOL_BODIES = TableInfo(
    name="bodies",
    stream="audit",
    subject_columns=("body",),
    purpose="audit, learning and consent events not yet stored by the service (a JSON array in `body`)",
)
DEAD_LETTERS = TableInfo(
    name="dead_letters",
    stream="audit",
    subject_columns=("body",),
    purpose="audit, learning and consent events the service refused, with the reason, to fix and requeue",
)
LOCAL_PERSONAL_DATA: tuple[TableInfo, ...] = (SPOOL_BODIES, DEAD_LETTERS)

# Every table: the personal ones, the anonymous page views and the rollups (no personal data).
ALL_TABLES: tuple[TableInfo, ...] = (USAGE_EVENTS, *PERSONAL_DATA_TABLES, *ROLLUP_TABLES)
# Tables that hold no events about people: bookkeeping, the daily salts (key material, no visitor
# data), ingest tokens, the ledger of stored event ids with their payload digests (a digest names no
# one; erasure marks an erased event's digest 'erased', see ccaudit.ingest.ledger) and the refused
# rewrites (platform, event id, digests), and the digests of OpenID Connect login states already
# used. Every other table the migrations create must be in
# ALL_TABLES, or be one of the views below.
# Tamper evidence (ccaudit.seal) adds seals and seal_leaves (ids, hashes, signatures, and each sealed
# row's HMAC key: key material like the salts; erasure blanks a row's key, see ccaudit.seal.changes),
# row_secrets (the keys of rows sealed before migration 0047), seal_changes (the ids of sealed rows
# that erasure, the retention job or a hold changed: no personal data) and seal_attempts (which
# seals were begun). erased_subjects holds keyed digests of erased
# identifiers and erasure_keys the key (ccaudit.rights).
SUPPORT_TABLES = frozenset({
    "schema_migrations", "visitor_salts", "platform_tokens", "event_ids", "security_events", "oidc_used_states",
    "seals", "seal_leaves", "row_secrets", "seal_changes", "seal_attempts", "erased_subjects",
    "erasure_keys", "erasure_batches",
})  # fmt: skip
# Views and materialized views: they store nothing themselves (their targets are listed above).
VIEWS = frozenset({
    "event_ids_audit", "event_ids_usage", "event_ids_consent", "event_ids_learning", "learning_state_mv",
    "audit_keys_mv", "audit_by_person_mv", "account_last_use_audit", "account_closures_audit",
    "usage_daily_mv", "usage_pages_daily_mv", "usage_devices_daily_mv", "usage_countries_daily_mv",
    "usage_referrers_daily_mv", "usage_minutes_mv", "audit_daily_mv", "consent_daily_mv",
    "account_last_use_learning",
    # Migration 0042: the refreshable views that close days, and the views the dashboards read.
    "usage_daily_close", "usage_pages_close", "usage_devices_close", "usage_countries_close", "usage_referrers_close",
    "usage_visits", "usage_pages", "usage_browsers", "usage_systems", "usage_devices", "usage_countries",
    "usage_referrers",
    # Migration 0044: each learner's latest organisation and profession.
    "learning_learners_mv",
})  # fmt: skip
