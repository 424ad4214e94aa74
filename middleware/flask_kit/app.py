"""A small learning platform on Flask, with ccaudit installed exactly as the README says.

Public pages (the module catalogue), a login through Flask-Login, learners enrolling in modules and
editing their profile, lessons and a follow-up module gated by ccaudit's eligibility answer
(``learning.py``), an admin area that reads and edits learners' records and modules, and a route
that raises. Accounts live in memory; every password is "demo".

Run it:  CCAUDIT_SERVICE_URL=http://127.0.0.1:8787 FLASK_KIT_ELIGIBILITY_TOKEN=<platform read token> \
         gunicorn --preload -w 2 middleware.flask_kit.app:app
"""

from __future__ import annotations

import html
import os
import secrets
from dataclasses import dataclass

from flask import Flask, Response, abort, redirect, request
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user

from ccaudit import load_settings, record_audit, set_subject
from ccaudit.integrations.flask import CCAudit
from middleware.flask_kit import learning


@dataclass
class Account(UserMixin):  # type: ignore[misc]
    id: str
    profile_id: str
    organisation: str
    role: str
    name: str
    profession: str  # what the platform knows of its learners (employee, student, teacher)


ACCOUNTS = {
    "alice": Account("alice", "p-1001", "opleidingen-a", "admin", "Alice Admin", "employee"),
    "bob": Account("bob", "p-2002", "opleidingen-a", "user", "Bob Learner", "employee"),
    "carol": Account("carol", "p-3003", "opleidingen-b", "user", "Carol Learner", "student"),
}
MODULES: dict[str, dict[str, str]] = {
    "privacy-101": {"title": "Privacy basics"},
    "privacy-201": {"title": "Privacy in practice"},
}
LEARNERS: dict[int, dict[str, str]] = {
    200: {"name": "Dana de Boer", "profession": "employee"},
    201: {"name": "Eli Smit", "profession": "student"},
    202: {"name": "Fee Bakker", "profession": "teacher"},
}


# ccaudit's consent banner, served by the middleware on this origin: one tag on every page.
BANNER = '<script src="/.ccaudit/banner.js" defer></script>'


def page(title: str, body: str, status: int = 200) -> Response:
    text = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}" + BANNER
    return Response(text, status=status, mimetype="text/html")


def require_admin() -> Account:
    if not current_user.is_authenticated or current_user.role != "admin":
        abort(403)
    account: Account = current_user._get_current_object()
    return account


def create_app() -> Flask:
    app = Flask(__name__)
    # Several gunicorn workers must share the session key: start them with --preload (one import in the
    # master) or set FLASK_KIT_SECRET_KEY.
    app.secret_key = os.environ.get("FLASK_KIT_SECRET_KEY") or secrets.token_hex(16)
    login_manager = LoginManager(app)
    login_manager.user_loader(ACCOUNTS.get)

    # ccaudit: the platform's route layout is given in code; deployment settings (service URL,
    # batching, trusted proxies) come from CCAUDIT_* environment variables. The actor comes from
    # Flask-Login's current_user (its id, profile_id, organisation and role).
    CCAudit(
        app,
        settings=load_settings(
            platform="learning",
            admin_prefixes=("/admin",),
            personal_data_paths=("/admin/learners", "/admin/learners/*"),
        ),
    )

    learning.install(app)

    @app.get("/")
    def home() -> Response:
        links = "<a href='/modules'>Modules</a> · <a href='/learn/privacy-101'>Learn</a> · <a href='/login'>Log in</a>"
        return page("Learning platform", f"<p>{links}</p>")

    @app.get("/about")
    def about() -> Response:
        return page("About", "<p>A demo learning platform with ccaudit installed.</p>")

    @app.get("/modules")
    def modules() -> Response:
        rows = "".join(f"<li>{html.escape(m['title'])}</li>" for m in MODULES.values())
        return page("Modules", f"<ul>{rows}</ul>")

    @app.get("/health")
    def health() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        if request.method == "GET":
            return page("Log in", "<form method=post><input name=username><input name=password type=password>"
                        "<button>Log in</button></form>")  # fmt: skip
        account = ACCOUNTS.get(request.form.get("username", ""))
        if account is None or request.form.get("password") != "demo":
            return page("Log in failed", "<p>Wrong user name or password.</p>", status=401)
        login_user(account)  # ccaudit reads the new current_user when the request ends
        return redirect("/admin/learners" if account.role == "admin" else "/modules", code=303)

    @app.post("/logout")
    def logout() -> Response:
        logout_user()
        return redirect("/", code=303)

    @app.get("/admin/learners")
    def admin_learners() -> Response:
        require_admin()
        rows = "".join(
            f"<li><a href='/admin/learners/{i}'>{html.escape(p['name'])}</a></li>" for i, p in LEARNERS.items()
        )
        return page("Learners", f"<ul>{rows}</ul>")

    @app.route("/admin/learners/<int:learner_id>", methods=["GET", "POST"])
    def admin_learner(learner_id: int) -> Response:
        require_admin()
        learner = LEARNERS.get(learner_id)
        if learner is None:
            abort(404)
        set_subject(f"learner:{learner_id}")
        if request.method == "POST":
            changed = sorted(k for k in request.form if k in learner)
            learner.update({k: request.form[k] for k in changed})
            record_audit(
                "learner.update", resource_type="learner", resource_id=str(learner_id),
                details={"fields": ",".join(changed)},
            )  # fmt: skip
            return redirect(f"/admin/learners/{learner_id}", code=303)
        return page(learner["name"], f"<p>{html.escape(learner['profession'])}</p>")

    @app.post("/admin/modules/<module_id>")
    def admin_module(module_id: str) -> Response:
        require_admin()
        module = MODULES.get(module_id)
        if module is None:
            abort(404)
        module["title"] = request.form.get("title", module["title"])
        record_audit("module.update", resource_type="module", resource_id=module_id)
        return redirect("/modules", code=303)

    @app.post("/admin/boom")
    def admin_boom() -> Response:
        raise RuntimeError("the admin action failed (demo)")

    @app.post("/modules/<module_id>/enrol")
    @login_required  # type: ignore[misc]
    def enrol(module_id: str) -> Response:
        if module_id not in MODULES:
            abort(404)
        record_audit("module.enrol", resource_type="module", resource_id=module_id)
        return Response("enrolled", status=201, mimetype="text/plain")

    @app.post("/me/profile")
    @login_required  # type: ignore[misc]
    def my_profile() -> Response:
        set_subject(current_user.profile_id)
        record_audit("profile.update", resource_type="profile", resource_id=current_user.profile_id)
        return redirect("/", code=303)

    login_manager.unauthorized_handler(lambda: page("Log in first", "", status=401))
    return app


app = create_app()
