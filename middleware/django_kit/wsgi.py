"""The kit's WSGI application. ccaudit is installed in ``MIDDLEWARE`` (settings.py), not here.

Run it:  CCAUDIT_SERVICE_URL=http://127.0.0.1:8787 gunicorn --preload -w 2 middleware.django_kit.wsgi
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "middleware.django_kit.settings")

application = get_wsgi_application()
