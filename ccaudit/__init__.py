"""ccaudit: audit logging and consent-gated usage analytics for ASGI/WSGI platforms.

The public surface for platforms is re-exported here; everything else is internal. Framework glue
lives in ``ccaudit.integrations.flask`` and ``ccaudit.integrations.django``, imported only by the
platforms that use them.
"""

from ccaudit.capture.asgi import CaptureMiddleware
from ccaudit.capture.context import (
    record_account,
    record_audit,
    record_auth,
    record_consent,
    record_learning,
    set_actor,
    set_subject,
)
from ccaudit.capture.identity import Identity, Resolver, starlette_user_resolver
from ccaudit.capture.wsgi import WsgiCaptureMiddleware
from ccaudit.errors import (
    CcauditError,
    ConfigurationError,
    IngestError,
    MigrationError,
    StoreError,
    StoreUnavailable,
)
from ccaudit.settings import Settings, load_settings
from ccaudit.shipping.recorder import Recorder, build_recorder

__version__ = "0.1.0"

__all__ = [
    "CaptureMiddleware",
    "CcauditError",
    "ConfigurationError",
    "Identity",
    "IngestError",
    "MigrationError",
    "Recorder",
    "Resolver",
    "Settings",
    "StoreError",
    "StoreUnavailable",
    "WsgiCaptureMiddleware",
    "__version__",
    "build_recorder",
    "load_settings",
    "record_account",
    "record_audit",
    "record_auth",
    "record_consent",
    "record_learning",
    "set_actor",
    "set_subject",
    "starlette_user_resolver",
]
