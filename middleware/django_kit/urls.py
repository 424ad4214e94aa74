from __future__ import annotations

from django.urls import path

from middleware.django_kit import views

urlpatterns = [
    path("", views.home),
    path("about", views.about),
    path("books", views.books),
    path("health", views.health),
    path("login", views.login_view),
    path("logout", views.logout_view),
    path("admin/members", views.admin_members),
    path("admin/members/<int:member_id>", views.admin_member),
    path("admin/books/<int:book_id>", views.admin_book),
    path("admin/boom", views.admin_boom),
    path("books/<int:book_id>/borrow", views.borrow),
    path("me/profile", views.my_profile),
]
