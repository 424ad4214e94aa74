"""The one settings class, read from ``CCAUDIT_*`` environment variables.

Build it once in an app factory (``load_settings()``) and pass it down; nothing reads the environment
at import time. A bad or unknown setting fails at start with the environment key in the message.

List settings accept JSON (``'["/admin","/beheer"]'``) or a comma-separated string (``/admin,/beheer``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ccaudit.errors import ConfigurationError
from ccaudit.register import DEFAULT_REGISTER, ProcessingRegister, load_register

ENV_PREFIX = "CCAUDIT_"
# Environment keys with this prefix belong to the test suite, not to the product.
_TEST_PREFIX = "CCAUDIT_TEST_"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PLATFORM = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")

StrList = Annotated[tuple[str, ...], NoDecode]

# A secret must carry at least 128 bits when random: 22 characters of URL-safe base64. Fewer than 12
# different characters in it means it was not drawn at random (a word, a repeated pattern).
SECRET_MIN_LENGTH = 22
_SECRET = re.compile(r"^[A-Za-z0-9_-]+$")
_SECRET_MIN_DISTINCT = 12


def check_secret(secret: str) -> str:
    """``secret`` if it can be a random 128-bit secret; raises ValueError saying what is wrong."""
    advice = "make one with `ccaudit secret`"
    if len(secret) < SECRET_MIN_LENGTH:
        raise ValueError(f"too short: at least {SECRET_MIN_LENGTH} characters (128 bits when random); {advice}")
    if not _SECRET.match(secret):
        raise ValueError(f"use only letters, digits, '-' and '_' (URL-safe base64); {advice}")
    if len(set(secret)) < _SECRET_MIN_DISTINCT:
        raise ValueError(f"not random: fewer than {_SECRET_MIN_DISTINCT} different characters; {advice}")
    return secret


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return tuple(json.loads(text))
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """All of ccaudit's configuration. Each field is the environment key without ``CCAUDIT_``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- this platform (capture side) ---
    platform: str = Field("default", description="Name of the platform this process belongs to.")
    admin_prefixes: StrList = Field(("/admin",), description="Path prefixes of the admin area.")
    personal_data_paths: StrList = Field(
        (), description="Path patterns whose GETs read personal data (`*` = one segment, `**` = any)."
    )
    login_paths: StrList = ("/login",)
    logout_paths: StrList = ("/logout",)
    exclude_paths: StrList = ("/health", "/healthz", "/livez", "/readyz", "/favicon.ico", "/robots.txt")
    static_prefixes: StrList = ("/static/", "/assets/")
    audited_methods: StrList = ("POST", "PUT", "PATCH", "DELETE")
    trusted_proxies: StrList = Field((), description="Networks whose forwarding headers are believed.")
    proxy_header: Literal["x-forwarded-for", "forwarded"] = "x-forwarded-for"

    # --- consent and usage analytics ---
    consent_cookie: str = Field("ccaudit_consent", description="Name of our consent cookie.")
    consent_revision: int = Field(1, ge=1, description="Current policy revision; older consents count as none.")
    consent_max_age_days: int = Field(182, ge=1, le=395, description="Consent older than this is void.")
    honour_dnt: bool = Field(True, description="Treat `DNT: 1` as a refusal of analytics.")
    gpc_override: bool = Field(
        False, description="Let an explicit on-site consent count despite `Sec-GPC: 1` (say so to visitors)."
    )
    consent_adapters: StrList = Field(
        ("ccaudit",),
        description="Consent managers read, in order: ccaudit, orestbida, klaro, cookiebot, cookieyes, osano, tcf.",
    )
    consent_cookies: dict[str, str] = Field(default_factory=dict, description="Cookie name per manager, if not theirs.")
    consent_mappings: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per manager, its category (Klaro: service) names → ours, e.g. {'klaro': {'matomo': 'analytics'}}.",
    )
    consent_revisions: dict[str, int] = Field(
        default_factory=dict, description="Per manager, the lowest policy revision still valid."
    )
    consent_path_prefix: str = Field(
        "/.ccaudit", description="Where the middleware serves the banner and takes receipts on the platform's origin."
    )
    usage_page_patterns: StrList = Field(
        (), description="Page patterns for paths without a route template; others count as '(other)'."
    )

    # --- shipping ---
    transport: Literal["http", "inprocess"] = "http"
    service_url: str = "http://127.0.0.1:8787"
    ingest_token: SecretStr | None = Field(None, description="This platform's token for the ingest API.")
    spool: bool = Field(True, description="Keep audit events in a durable local spool until stored.")
    spool_path: Path | None = Field(
        None, description="The spool file; default $XDG_STATE_HOME/ccaudit/spool-<platform>.sqlite3 (see spool_file)."
    )
    seal_heads_path: Path | None = Field(
        None, description="Where the platform keeps the seal heads of ingest answers; default beside the spool."
    )
    spool_max_events: int = Field(1_000_000, gt=0, le=100_000_000)
    spool_max_age_days: float = Field(7.0, gt=0, le=366)
    dead_letter_max_age_days: float = Field(30.0, gt=0, le=366)
    spool_lease_seconds: float | None = Field(
        None, gt=0, le=3600, description="How long a shipper's claim lasts; default twice send_timeout."
    )
    durability: Literal["process", "power", "deferred"] = Field(
        "process",
        description="When audit, learning and consent events are on disk: 'process' = committed to the spool "
        "before the response (survives the process being killed), 'power' = also fsynced before it (survives a "
        "power loss), 'deferred' = written by the recorder's thread within a flush interval.",
    )
    strict_paths: StrList = Field(
        (), description="Routes whose audit event is fsynced before the response (survives a power loss), else 503."
    )
    fail_closed_paths: StrList = Field((), description="Routes refused with 503 when their audit cannot be kept.")
    queue_size: int = Field(20_000, gt=0, le=10_000_000)
    batch_size: int = Field(500, gt=0, le=100_000)
    flush_interval: float = Field(1.0, gt=0, le=300)
    shutdown_timeout: float = Field(5.0, ge=0, le=300)
    send_timeout: float = Field(10.0, gt=0, le=300)

    # --- service ---
    port: int = Field(8787, ge=1, le=65535)
    admin_token: SecretStr | None = Field(
        None, description="The deployment's bootstrap credential: at least 22 random characters (`ccaudit secret`)."
    )
    api_token: SecretStr | None = Field(
        None, description="The command line's credential for reading: a personal API token (`ccaudit login`)."
    )
    log_format: Literal["text", "json"] = Field("text", description="Logs on stderr: text, or JSON lines for shippers.")
    token_grace_seconds: int = Field(86400, ge=0, le=90 * 86400, description="A rotated token works this long.")
    ingest_rate: float = Field(50.0, gt=0, description="Batches per second per ingest token (sustained).")
    retention_interval_minutes: float = Field(
        60.0, ge=0, le=7 * 24 * 60, description="How often the service runs the retention job; 0: never."
    )
    ingest_burst: int = Field(200, gt=0, description="Batches a token may send at once before the rate applies.")
    max_page_size: int = Field(1000, gt=0, le=100_000)
    header_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a client has to send a request's headers; then 408 and closed."
    )
    body_timeout: float = Field(
        30.0, gt=0, le=3600, description="Seconds a client has to send a request's body after its headers."
    )
    max_connections: int = Field(
        1000,
        ge=16,
        le=1_000_000,
        description="Open connections at most; at the cap the one waiting longest for its client is closed.",
    )

    console_idle_minutes: int = Field(
        30, ge=1, le=24 * 60, description="A console session ends after this many minutes without a request."
    )
    console_absolute_hours: int = Field(
        12, ge=1, le=24, description="A console session ends this many hours after its login, however busy."
    )
    console_secure_cookies: bool = Field(
        False,
        description="Mark the console's cookies Secure even on plain HTTP (the service is behind an HTTPS proxy).",
    )
    dashboard_min_cell: int = Field(
        5,
        ge=2,
        le=1000,
        description="Dashboards show a figure counting fewer than this many visitors or learners as '<k'.",
    )

    # --- login with OpenID Connect (ccaudit.access.oidc): all of the required keys, or none ---
    oidc_issuer: str = Field(
        "", description="The identity provider's issuer URL; its /.well-known/openid-configuration is read."
    )
    oidc_client_id: str = Field("", description="The console's client id at the identity provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="The console's client secret there.")
    oidc_redirect_base: str = Field(
        "",
        description="The console's public base URL (https://audit.example.org); the redirect URI adds "
        "/console/login/oidc/callback.",
    )
    oidc_role_map: dict[str, str] = Field(
        default_factory=dict,
        description="Values of the roles claim → ccaudit roles, e.g. {'ccaudit-auditors': 'auditor'}; "
        "the first entry the user holds wins. A user holding none gets no access.",
    )
    oidc_provider_name: str = Field("", description="Shown as 'Log in with <name>'; default the issuer's host.")
    oidc_scopes: StrList = Field(("openid", "email", "profile"), description="Scopes asked for; 'openid' is added.")
    oidc_roles_claim: str = Field("roles", description="The claim that carries the user's roles or groups.")
    oidc_organisations_claim: str = Field(
        "organisations", description="The claim that carries the organisations an org_admin may see."
    )
    oidc_username_claim: str = Field(
        "preferred_username", description="The claim shown as the account's name (else email, else sub)."
    )
    oidc_email_domains: StrList = Field(
        (), description="If set, only users whose verified email is in one of these domains may log in."
    )
    oidc_required_claims: dict[str, str] = Field(
        default_factory=dict,
        description="Claims a user must hold with this value (or among a list's values), e.g. {'tenant': 'cc'}.",
    )
    oidc_logout_at_provider: bool = Field(
        False,
        description="Logging out of the console also logs out at the provider (its end_session_endpoint), "
        "which then sends the browser back to the login page (register that address there).",
    )

    # --- store ---
    data_dir: Path = Path(".ccaudit-data")
    dsn: str = Field("", description="clickhouse-connect DSN; empty = embedded chDB under data_dir.")
    database: str = "ccaudit"
    processing_register: ProcessingRegister = Field(
        DEFAULT_REGISTER, description="The processing register (JSON); see ccaudit/register.py."
    )
    register_file: Path | None = Field(None, description="A JSON file with the processing register.")
    geoip_db: Path | None = Field(None, description="A MaxMind-format (.mmdb) country database.")
    learning_catalogue_file: Path | None = Field(
        None,
        description="The module catalogue (JSON): modules, lessons, follow-up rules; checked when the service starts.",
    )

    # --- tamper evidence (ccaudit.seal; docs/tamper-evidence.md) ---
    seal: bool = Field(True, description="This service seals what it stored (replicas that all seal share one key).")
    seal_period: float = Field(300.0, ge=1, le=86_400, description="Seconds per sealed period (by arrival).")
    seal_settle: float = Field(
        30.0, ge=0, le=3600, description="Seconds a period waits after its end for batches in flight."
    )
    seal_dir: Path | None = Field(None, description="Folder of the seal files; default <data_dir>/seals.")
    seal_key_file: Path | None = Field(
        None, description="The Ed25519 private key (PEM); default <data_dir>/seal-keys/ed25519.pem."
    )

    @field_validator(
        "admin_prefixes",
        "personal_data_paths",
        "login_paths",
        "logout_paths",
        "exclude_paths",
        "static_prefixes",
        "audited_methods",
        "trusted_proxies",
        "usage_page_patterns",
        "strict_paths",
        "fail_closed_paths",
        "consent_adapters",
        "oidc_scopes",
        "oidc_email_domains",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator(
        "admin_prefixes",
        "login_paths",
        "logout_paths",
        "exclude_paths",
        "static_prefixes",
        "usage_page_patterns",
        "strict_paths",
        "fail_closed_paths",
    )
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r} must start with '/'")
        return value

    @field_validator("audited_methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(m.upper() for m in value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # ValueError names the bad network
        return value

    @field_validator("consent_cookie")
    @classmethod
    def _cookie_name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", value):
            raise ValueError("a cookie name of letters, digits, '_', '.' or '-'")
        return value

    @field_validator("consent_path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.match(r"^(/[A-Za-z0-9._~-]+)+$", value):
            raise ValueError("a path such as /.ccaudit: starts with '/', no trailing '/', no query")
        return value

    @field_validator("geoip_db")
    @classmethod
    def _geoip(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if not _PLATFORM.match(value):
            raise ValueError("use lower-case letters, digits, '.', '_' or '-' (at most 63)")
        return value

    @field_validator("admin_token")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret(value.get_secret_value())
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        # The database name is an identifier in SQL, so it comes from this allow-list, never bound.
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return value

    @field_validator("service_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consent_managers(self) -> Settings:
        # Imported here: the adapters import this module's neighbours, not the other way round.
        from ccaudit.consent.adapters import build_adapters
        from ccaudit.consent.policy import adapter_config

        try:
            build_adapters(adapter_config(self))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"consent_adapters: {exc}") from None
        return self

    @model_validator(mode="after")
    def _durability_needs_a_spool(self) -> Settings:
        if not self.spool and self.durability != "deferred" and "durability" in self.model_fields_set:
            raise ValueError("durability: events are on disk before the response only with the spool (CCAUDIT_SPOOL)")
        return self

    @model_validator(mode="after")
    def _register_file(self) -> Settings:
        if self.register_file is not None:
            try:
                register = load_register(self.register_file)
            except ValueError as exc:
                raise ValueError(f"register_file: {exc}") from None
            object.__setattr__(self, "processing_register", register)
        return self

    @field_validator("oidc_issuer", "oidc_redirect_base")
    @classmethod
    def _oidc_url(cls, value: str, info: ValidationInfo) -> str:
        if value and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError("must be an http:// or https:// URL without query or fragment")
        # The issuer stays exactly as written: ID tokens must name it character for character, and some
        # providers' issuers end in '/'.
        return value if info.field_name == "oidc_issuer" else value.rstrip("/")

    @field_validator("oidc_role_map")
    @classmethod
    def _oidc_roles(cls, value: dict[str, str]) -> dict[str, str]:
        from ccaudit.access.roles import Role  # the table's module imports nothing of this one

        allowed = {r.value for r in Role}
        for claim_value, role in value.items():
            if role not in allowed:
                raise ValueError(f"{claim_value!r} maps to {role!r}, not one of {', '.join(sorted(allowed))}")
        return value

    @model_validator(mode="after")
    def _oidc_all_or_nothing(self) -> Settings:
        # A half-configured provider would show a login button that cannot work, or accept logins
        # nobody meant to allow: either every required key is set, or OpenID Connect is off.
        required = {
            "oidc_issuer": bool(self.oidc_issuer),
            "oidc_client_id": bool(self.oidc_client_id),
            "oidc_client_secret": self.oidc_client_secret is not None,
            "oidc_redirect_base": bool(self.oidc_redirect_base),
            "oidc_role_map": bool(self.oidc_role_map),
        }
        optional = ("oidc_provider_name", "oidc_scopes", "oidc_roles_claim", "oidc_organisations_claim",
                    "oidc_username_claim", "oidc_email_domains", "oidc_required_claims",
                    "oidc_logout_at_provider")  # fmt: skip
        wanted = any(required.values()) or any(name in self.model_fields_set for name in optional)
        missing = [name for name, present in required.items() if not present]
        if wanted and missing:
            keys = ", ".join(ENV_PREFIX + name.upper() for name in missing)
            raise ValueError(f"{missing[0]}: OpenID Connect is configured only in part; set {keys} too")
        if self.oidc_client_secret is not None and not self.oidc_client_secret.get_secret_value():
            raise ValueError("oidc_client_secret: empty")
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Whether the console offers login with OpenID Connect (validation makes it all or nothing)."""
        return bool(self.oidc_issuer)

    @property
    def store_dsn(self) -> str:
        """The DSN to open: the configured one, or embedded chDB in ``data_dir``."""
        return self.dsn or f"chdb://{self.data_dir.resolve() / 'chdb'}"

    @property
    def seal_folder(self) -> Path:
        """Where seal files go: ``seal_dir``, else ``<data_dir>/seals`` (outside the store's folder)."""
        return self.seal_dir if self.seal_dir is not None else self.data_dir.resolve() / "seals"

    @property
    def seal_key_path(self) -> Path:
        """The sealing key's file: ``seal_key_file``, else ``<data_dir>/seal-keys/ed25519.pem``."""
        return (
            self.seal_key_file
            if self.seal_key_file is not None
            else self.data_dir.resolve() / "seal-keys" / "ed25519.pem"
        )

    @property
    def spool_file(self) -> Path:
        """The platform's spool: ``spool_path``, else one per platform in the user's state folder
        (``$XDG_STATE_HOME/ccaudit``, by default ``~/.local/state/ccaudit``). Never relative to the
        working directory, which servers such as gunicorn ``--chdir`` move into the app's sources."""
        if self.spool_path is not None:
            return self.spool_path
        state = os.environ.get("XDG_STATE_HOME", "")
        # The XDG spec ignores a relative XDG_STATE_HOME: it would depend on the working directory.
        base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
        return base / "ccaudit" / f"spool-{self.platform}.sqlite3"

    @property
    def seal_heads_file(self) -> Path:
        """The platform's copy of its seal heads (ccaudit.shipping.heads): ``seal_heads_path``, else
        ``<spool file>.seal-heads.json``."""
        if self.seal_heads_path is not None:
            return self.seal_heads_path
        spool = self.spool_file
        return spool.with_name(spool.name + ".seal-heads.json")

    def retention_for(self, platform: str, stream: str) -> int:
        """Days to keep rows of ``stream`` from ``platform``, as the processing register declares.

        Ingest refuses undeclared streams before it asks, so a missing declaration is a bug here.
        """
        declaration = self.processing_register.declaration(platform, stream)
        if declaration is None:
            raise LookupError(f"{platform}/{stream} is not in the processing register")
        return declaration.retention_days


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (plus ``overrides``) into Settings, or raise ConfigurationError.

    Unknown ``CCAUDIT_*`` keys are errors too: a misspelt key would otherwise be silently ignored.
    """
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    for key in sorted(os.environ):
        if key.startswith(ENV_PREFIX) and key not in known and not key.startswith(_TEST_PREFIX):
            raise ConfigurationError(key, "unknown setting")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(part) for part in err["loc"]]
        named = re.match(r"^Value error, (\w+): ", err["msg"])
        field = loc[0] if loc else (named.group(1) if named else "?")
        where = f" (at {'.'.join(loc[1:])})" if len(loc) > 1 else ""
        message = err["msg"].removeprefix("Value error, ")
        if named and not loc:
            message = message.removeprefix(named.group(0).removeprefix("Value error, "))
        raise ConfigurationError(ENV_PREFIX + field.upper(), message + where) from None
    except ValueError as exc:  # pydantic-settings fails to decode a JSON value before validation
        named = re.search(r'field "(\w+)"', str(exc))
        key = ENV_PREFIX + (named.group(1).upper() if named else "?")
        raise ConfigurationError(key, "not valid JSON") from None
