"""販売店様: registration on the entry site, and the dealer's own menu."""

from django.urls import path  # noqa: F401

app_name = "dealers"
urlpatterns: list = []
