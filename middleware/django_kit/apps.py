from __future__ import annotations

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "middleware.django_kit"
    label = "library"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        # Django stores the last login time in the database; this kit has none.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
