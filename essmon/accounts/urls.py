from django.urls import path

from essmon.accounts.views import activation, auth, entry, menu

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
    path("activate/done/", activation.done, name="activate_done"),
    path("activate/<str:token>/", activation.terms, name="activate"),
    path("activate/<str:token>/password/", activation.password, name="activate_password"),
    # login
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("password-reset/", auth.password_reset, name="password_reset"),
    path("password-reset/sent/", auth.password_reset_sent, name="password_reset_sent"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password-reset/complete/", auth.password_reset_complete, name="password_reset_complete"),
    path("unlock/<str:token>/", auth.unlock, name="unlock"),
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
