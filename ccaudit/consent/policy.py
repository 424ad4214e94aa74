"""The consent policy the settings describe, built once per process (adapters hold parse caches)."""

from __future__ import annotations

from ccaudit.consent.adapters import AdapterConfig, build_adapters
from ccaudit.consent.decision import ConsentPolicy
from ccaudit.settings import Settings

# Settings keys of per-manager mappings → the AdapterConfig field each one fills.
_MAPPINGS = {
    "orestbida": "orestbida_categories",
    "klaro": "klaro_services",
    "cookiebot": "cookiebot_categories",
    "cookieyes": "cookieyes_categories",
}


def adapter_config(settings: Settings) -> AdapterConfig:
    """Raises ValueError naming the AdapterConfig field when the settings are inconsistent."""
    fields: dict[str, object] = {"enabled": settings.consent_adapters, "ccaudit_cookie": settings.consent_cookie}
    for name, cookie in settings.consent_cookies.items():
        fields[f"{name}_cookie"] = cookie
    for name, mapping in settings.consent_mappings.items():
        if name not in _MAPPINGS:
            raise ValueError(f"consent_mappings: {name!r} takes no mapping (only {', '.join(_MAPPINGS)})")
        fields[_MAPPINGS[name]] = mapping
    return AdapterConfig(**fields)  # type: ignore[arg-type]


def policy_from_settings(settings: Settings) -> ConsentPolicy:
    return ConsentPolicy(
        cookie_name=settings.consent_cookie,
        revision=settings.consent_revision,
        max_age_days=settings.consent_max_age_days,
        honour_dnt=settings.honour_dnt,
        gpc_override=settings.gpc_override,
        adapters=build_adapters(adapter_config(settings)),
        revisions=dict(settings.consent_revisions),
    )
