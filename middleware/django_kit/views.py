"""Views of the library admin module: public pages, login, members' records, books, loans."""

from __future__ import annotations

import html

from django.contrib.auth import authenticate, login, logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_http_methods, require_POST

from ccaudit import record_audit, set_subject

BOOKS: dict[int, dict[str, str]] = {
    1: {"title": "Max Havelaar"},
    2: {"title": "De avonden"},
}
MEMBERS: dict[int, dict[str, str]] = {
    300: {"name": "Gijs Visser", "email": "gijs@example.org"},
    301: {"name": "Hanna Mulder", "email": "hanna@example.org"},
    302: {"name": "Ivo de Graaf", "email": "ivo@example.org"},
}


# ccaudit's consent banner, served by the middleware on this origin: one tag on every page.
BANNER = '<script src="/.ccaudit/banner.js" defer></script>'


def page(title: str, body: str, status: int = 200) -> HttpResponse:
    text = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}" + BANNER
    return HttpResponse(text, status=status)


def redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def is_admin(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated and request.user.is_staff)


def home(request: HttpRequest) -> HttpResponse:
    return page("Library", "<p><a href='/books'>Books</a> · <a href='/login'>Log in</a></p>")


def about(request: HttpRequest) -> HttpResponse:
    return page("About", "<p>A demo library module with ccaudit installed.</p>")


def books(request: HttpRequest) -> HttpResponse:
    rows = "".join(f"<li>{html.escape(b['title'])}</li>" for b in BOOKS.values())
    return page("Books", f"<ul>{rows}</ul>")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return page("Log in", "<form method=post><input name=username><input name=password type=password>"
                    "<button>Log in</button></form>")  # fmt: skip
    user = authenticate(request, username=request.POST.get("username", ""), password=request.POST.get("password", ""))
    if user is None:
        return page("Log in failed", "<p>Wrong user name or password.</p>", status=401)
    login(request, user)  # ccaudit reads request.user when the view returns
    return redirect("/admin/members" if user.is_staff else "/books")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


def admin_members(request: HttpRequest) -> HttpResponse:
    if not is_admin(request):
        return page("Forbidden", "", status=403)
    rows = "".join(f"<li><a href='/admin/members/{i}'>{html.escape(m['name'])}</a></li>" for i, m in MEMBERS.items())
    return page("Members", f"<ul>{rows}</ul>")


@require_http_methods(["GET", "POST"])
def admin_member(request: HttpRequest, member_id: int) -> HttpResponse:
    if not is_admin(request):
        return page("Forbidden", "", status=403)
    member = MEMBERS.get(member_id)
    if member is None:
        raise Http404
    set_subject(f"member:{member_id}")
    if request.method == "POST":
        changed = sorted(k for k in request.POST if k in member)
        member.update({k: request.POST[k] for k in changed})
        record_audit(
            "member.update", resource_type="member", resource_id=str(member_id),
            details={"fields": ",".join(changed)},
        )  # fmt: skip
        return redirect(f"/admin/members/{member_id}")
    return page(member["name"], f"<p>{html.escape(member['email'])}</p>")


@require_POST
def admin_book(request: HttpRequest, book_id: int) -> HttpResponse:
    if not is_admin(request):
        return page("Forbidden", "", status=403)
    book = BOOKS.get(book_id)
    if book is None:
        raise Http404
    book["title"] = request.POST.get("title", book["title"])
    record_audit("book.update", resource_type="book", resource_id=str(book_id))
    return redirect("/books")


@require_POST
def admin_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the admin action failed (demo)")


@require_POST
def borrow(request: HttpRequest, book_id: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return page("Log in first", "", status=401)
    if book_id not in BOOKS:
        raise Http404
    record_audit("loan.create", resource_type="book", resource_id=str(book_id))
    return HttpResponse("borrowed", status=201, content_type="text/plain")


@require_POST
def my_profile(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return page("Log in first", "", status=401)
    account = f"account:{request.user.pk}"
    set_subject(account)
    record_audit("profile.update", resource_type="profile", resource_id=account)
    return redirect("/")
