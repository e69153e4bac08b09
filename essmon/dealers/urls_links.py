"""The customer's 保守を任せる販売店様の管理 (link and unlink dealers)."""

from django.urls import path  # noqa: F401

app_name = "links"
urlpatterns: list = []
