"""名義変更: the customers' pages under /menu/transfers/ and the operators' start page."""

from django.urls import path

from essmon.transfers import entry, views

app_name = "transfers"

urlpatterns = [
    path("menu/transfers/", views.menu, name="menu"),
    path("menu/transfers/sites/<int:site_id>/start/", views.start, name="start"),
    path("menu/transfers/<int:transfer_id>/cancel/", views.cancel, name="cancel"),
    path("menu/transfers/claim/", views.claim, name="claim"),
    path("menu/transfers/claim/done/", views.claim_done, name="claim_done"),
    # a buyer without an account: the code, then the registration's steps
    path("entry/transfer/", entry.code, name="entry"),
    path("entry/transfer/terms/", entry.terms, name="entry_terms"),
    path("entry/transfer/form/", entry.form, name="entry_form"),
    path("entry/transfer/confirm/", entry.confirm, name="entry_confirm"),
    path("entry/transfer/done/", entry.done, name="entry_done"),
    path(
        "operator/transfers/<int:transfer_id>/cancel/",
        views.operator_cancel,
        name="operator_cancel",
    ),
    path(
        "operator/transfers/<str:gateway_id>/start/",
        views.operator_start,
        name="operator_start",
    ),
]
