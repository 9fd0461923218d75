"""
URLs of the example site.
"""

from __future__ import annotations

from django.urls import path

from shopsite import views

urlpatterns = [
    path("items/<str:item_id>", views.item),
    path("login", views.LoginView.as_view()),
    path("boom", views.boom),
]
