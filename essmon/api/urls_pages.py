"""The アクセストークン pages: the customer's under /menu/api/tokens/ and the dealer's
under /dealer/api/tokens/ (essmon/urls.py), one view each, two namespaces."""

from django.urls import path

from essmon.api import views

customer = (
    [
        path("", views.customer_tokens, name="menu"),
        path("<int:token_id>/delete/", views.customer_revoke, name="revoke"),
    ],
    views.CUSTOMER,
)
dealer = (
    [
        path("", views.dealer_tokens, name="menu"),
        path("<int:token_id>/delete/", views.dealer_revoke, name="revoke"),
    ],
    views.DEALER,
)
