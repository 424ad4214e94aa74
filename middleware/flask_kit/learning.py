"""The learning part of the Flask kit: lessons recorded with ``record_learning``, and a follow-up
module opened only when ccaudit says the learner may start it, with what is missing shown otherwise.

- ``GET /learn/<module>``: the module's lessons. For a module with a rule (the follow-up module
  ``privacy-201``), the platform first asks ``GET /v1/eligibility/{learner}/{module}`` with its
  platform read token (``FLASK_KIT_ELIGIBILITY_TOKEN``, scope ``eligibility:read``); if the answer
  is no, the learner sees the conditions still missing, in their language (nl, fr or en).
- ``POST /learn/<module>/<lesson>``: the learner finished a lesson: ``completed``, or for the quiz
  ``passed``/``failed`` with the score given.

The course's structure is the same file the service's catalogue is made from (``catalogue.json``).
The eligibility client delivers this process's recorded learning events before it asks, so a lesson
finished in one request counts in the very next answer.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, redirect, request
from flask_login import current_user, login_required

from ccaudit import record_learning
from ccaudit.learning.client import EligibilityClient, EligibilityError

CATALOGUE: dict[str, Any] = json.loads(Path(__file__).with_name("catalogue.json").read_text())["modules"]
LANGUAGES = ("nl", "fr", "en")
WORDS = {
    "locked": {"nl": "Nog niet beschikbaar: dit ontbreekt nog.", "fr": "Pas encore accessible : il manque ceci.",
               "en": "Not open to you yet: this is still missing."},
    "open": {"nl": "Je mag deze module volgen.", "fr": "Vous pouvez suivre ce module.",
             "en": "You may follow this module."},
    "done": {"nl": "Klaar", "fr": "Terminé", "en": "Done"},
    "unknown": {"nl": "De toegang kan nu niet worden nagegaan; probeer het straks opnieuw.",
                "fr": "L'accès ne peut pas être vérifié maintenant ; réessayez plus tard.",
                "en": "Access cannot be checked right now; please try again shortly."},
}  # fmt: skip

blueprint = Blueprint("learning", __name__)


def language() -> str:
    return request.accept_languages.best_match(LANGUAGES) or "en"


def eligibility() -> EligibilityClient | None:
    """The client, made once per process: the platform read token and the recorder of this app."""
    client: EligibilityClient | None = current_app.config.get("ELIGIBILITY_CLIENT")
    token = os.environ.get("FLASK_KIT_ELIGIBILITY_TOKEN", "")
    if client is None and token:
        middleware = current_app.extensions["ccaudit"]
        client = EligibilityClient(middleware.settings.service_url, token, middleware.recorder)
        current_app.config["ELIGIBILITY_CLIENT"] = client
    return client


def explain(node: dict[str, Any], lang: str) -> str:
    """A missing condition and, nested, the missing conditions under it."""
    children = "".join(explain(child, lang) for child in node.get("of", ()))
    return f"<li>{html.escape(node['reason'][lang])}{f'<ul>{children}</ul>' if children else ''}</li>"


def page(title: str, body: str, lang: str, status: int = 200) -> Response:
    text = (f'<!doctype html><html lang="{lang}"><title>{html.escape(title)}</title><main>'
            f"<h1>{html.escape(title)}</h1>{body}</main></html>")  # fmt: skip
    return Response(text, status=status, mimetype="text/html")


@blueprint.get("/learn/<module_id>")
@login_required  # type: ignore[misc]
def module(module_id: str) -> Response:
    entry = CATALOGUE.get(module_id)
    if entry is None:
        abort(404)
    lang = language()
    if "rule" in entry:
        client = eligibility()
        try:
            if client is None:
                raise EligibilityError(503, "FLASK_KIT_ELIGIBILITY_TOKEN is not set")
            answer = client.check(current_user.get_id(), module_id)
        except EligibilityError as exc:
            current_app.logger.warning("eligibility of %s: %s", module_id, exc)
            return page(entry["title"], f"<p role=alert>{WORDS['unknown'][lang]}</p>", lang, status=503)
        if not answer["eligible"]:
            missing = explain(answer["missing"], lang) if answer["missing"] else ""
            return page(entry["title"], f"<p id=locked>{WORDS['locked'][lang]}</p><ul id=missing>{missing}</ul>",
                        lang, status=403)  # fmt: skip
    lessons = "".join(
        f"<li><form method=post action='/learn/{html.escape(module_id)}/{html.escape(lesson['id'])}'>"
        f"{html.escape(lesson['title'])} "
        + ("<input name=score value=0.8 aria-label=score> " if lesson["id"] == "quiz" else "")
        + f"<button>{WORDS['done'][lang]}</button></form></li>"
        for lesson in entry["lessons"]
    )
    return page(entry["title"], f"<p id=open>{WORDS['open'][lang]}</p><ul>{lessons}</ul>", lang)


@blueprint.post("/learn/<module_id>/<lesson_id>")
@login_required  # type: ignore[misc]
def lesson(module_id: str, lesson_id: str) -> Response:
    entry = CATALOGUE.get(module_id)
    if entry is None or lesson_id not in {lesson["id"] for lesson in entry["lessons"]}:
        abort(404)
    step = {"learner": current_user.get_id(), "module": module_id, "lesson": lesson_id,
            "organisation": current_user.organisation, "profession": current_user.profession}  # fmt: skip
    if lesson_id == "quiz":
        try:
            score = float(request.form.get("score", ""))
        except ValueError:
            abort(400)
        if not -1.0 <= score <= 1.0:
            abort(400)
        record_learning("passed" if score >= 0.5 else "failed", score=score, **step)
    else:
        record_learning("completed", **step)
    return redirect(f"/learn/{module_id}", code=303)


def install(app: Flask) -> None:
    app.register_blueprint(blueprint)
