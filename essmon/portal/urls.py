"""The ``accounts`` namespace: the registration site, activation and login (essmon.accounts)
and the 管理・登録サイト's menu, account changes, 「ゲートウェイの登録」 and the manual."""

from django.urls import path

from essmon.accounts import urls as accounts_urls
from essmon.portal import entry, menu

app_name = "accounts"

urlpatterns = [
    # 登録サイト
    path("", entry.landing, name="landing"),
    path("entry/terms/", entry.terms, name="entry_terms"),
    path("entry/form/", entry.form, name="entry_form"),
    path("entry/confirm/", entry.confirm, name="entry_confirm"),
    path("entry/done/", entry.done, name="entry_done"),
    path("entry/sample/", entry.sample_sheet, name="sample_sheet"),
    path("entry/postal/", entry.postal_lookup, name="postal_lookup"),
    # activation and login
    *accounts_urls.urlpatterns,
    # 管理・登録サイト
    path("menu/", menu.menu, name="menu"),
    path("menu/account/", menu.account, name="account"),
    path("menu/account/profile/", menu.profile, name="profile"),
    path("menu/account/email/", menu.email_change, name="email_change"),
    path("menu/account/email/<str:token>/", menu.email_change_confirm, name="email_change_confirm"),
    path("menu/account/password/", menu.password_change, name="password_change"),
    path("menu/gateways/add/", menu.gateway_add, name="gateway_add"),
    path("menu/gateways/add/site/", menu.gateway_add_site, name="gateway_add_site"),
    path("menu/gateways/add/confirm/", menu.gateway_add_confirm, name="gateway_add_confirm"),
    path("menu/gateways/add/done/", menu.gateway_add_done, name="gateway_add_done"),
    path("manual/", menu.manual, name="manual"),
]
