"""Activation and login: mounted by essmon/portal/urls.py in the one ``accounts`` namespace,
next to the registration site's and the menu's pages, which draw on apps above this one."""

from django.urls import path

from essmon.accounts.views import activation, auth, renewal

urlpatterns = [
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
    # 利用規約の改定
    path("terms/renewal/", renewal.terms_renewal, name="terms_renewal"),
    path("terms/renewal/declined/", renewal.terms_declined, name="terms_declined"),
]
