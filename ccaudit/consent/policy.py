"""The consent policy the settings describe, built once per process (adapters hold parse caches)."""

from __future__ import annotations

from ccaudit.consent.adapters import AdapterConfig, build_adapters, ours
from ccaudit.consent.adapters.config import ADAPTER_NAMES, MAPPING_FIELDS, REVISION_ADAPTERS
from ccaudit.consent.decision import ConsentPolicy
from ccaudit.settings import Settings


def adapter_config(settings: Settings) -> AdapterConfig:
    """The adapters' configuration in the settings.

    Raises ValueError naming the setting and the manager when a per-manager setting names one it cannot
    apply to; :func:`build_adapters` checks the values themselves.
    """
    fields: dict[str, object] = {"enabled": settings.consent_adapters, "ccaudit_cookie": settings.consent_cookie}
    for name, cookie in settings.consent_cookies.items():
        if name == ours.NAME:
            # Our banner writes the cookie consent_cookie names: a second name here would read another.
            raise ValueError(f"consent_cookies: {name!r} is not set here: our cookie is named by consent_cookie")
        if name not in ADAPTER_NAMES:
            known = ", ".join(n for n in ADAPTER_NAMES if n != ours.NAME)
            raise ValueError(f"consent_cookies: unknown consent manager {name!r} (known: {known})")
        fields[f"{name}_cookie"] = cookie
    for name, mapping in settings.consent_mappings.items():
        if name not in MAPPING_FIELDS:
            raise ValueError(f"consent_mappings: {name!r} takes no mapping (only {', '.join(MAPPING_FIELDS)})")
        fields[MAPPING_FIELDS[name]] = mapping
    for name in settings.consent_revisions:
        # A minimum for a manager that records no revision would refuse all its consents as old, and
        # one under a misspelt name would hold nobody to it: both are mistakes, not choices.
        if name not in REVISION_ADAPTERS:
            raise ValueError(
                f"consent_revisions: {name!r} is not a consent manager whose cookie records a revision "
                f"(only {', '.join(REVISION_ADAPTERS)}; ours is consent_revision)"
            )
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
