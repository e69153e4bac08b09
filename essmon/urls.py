from django.contrib import admin
from django.contrib.auth.views import PasswordChangeView
from django.urls import include, path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView

from essmon.accounts.forms import LimitedAdminAuthenticationForm, LimitedAdminPasswordChangeForm
from essmon.api import urls_pages as api_pages
from essmon.telemetry import api as telemetry_api

handler500 = "essmon.core.errors.server_error"

admin.site.site_header = "遠隔モニタリングサービス 運営管理"
admin.site.site_title = "essmon 運営管理"
admin.site.login_form = LimitedAdminAuthenticationForm


class LimitedAdminPasswordChangeView(PasswordChangeView):
    form_class = LimitedAdminPasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


def admin_password_change(request):
    """The admin's own password change, with the current password checked through the
    login limits (AdminSite.password_change's form has no request to count with)."""
    request.current_app = admin.site.name
    return LimitedAdminPasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done"),
        extra_context=admin.site.each_context(request),
    )(request)


urlpatterns = [
    # before admin.site.urls: the same path and name, with the limited form
    path(
        "admin/password_change/",
        admin.site.admin_view(admin_password_change),
        name="admin_password_change",
    ),
    # the admin's login offers a reset when this name exists: a locked operator needs one
    path(
        "admin/password_reset/",
        RedirectView.as_view(pattern_name="accounts:password_reset"),
        name="admin_password_reset",
    ),
    path("admin/", admin.site.urls),
    # the people's API (docs/api.md), before the catch-all below, which would answer for it
    path("api/public/v1/", include("essmon.api.urls")),
    path("api/v1/", include("essmon.telemetry.urls")),
    path("api/v1/", include("essmon.commands.urls")),
    # any other path under /api/ answers JSON too, as the protocol promises
    re_path(r"^api/(?P<rest>.*)$", csrf_exempt(telemetry_api.not_found)),
    path("monitoring/", include("essmon.monitoring.urls")),
    path("dealer/api/tokens/", include(api_pages.dealer)),
    path("", include("essmon.webhooks.urls")),
    path("dealer/", include("essmon.dealers.urls")),
    path("menu/dealers/", include("essmon.dealers.urls_links")),
    path("menu/viewers/", include("essmon.dealers.urls_viewers")),
    path("menu/api/tokens/", include(api_pages.customer)),
    path("menu/account/alerts/", include("essmon.alerts.urls")),
    path("support/", include("essmon.support.urls")),
    path("", include("essmon.transfers.urls")),
    path("", include("essmon.privacy.urls")),
    path("", include("essmon.portal.urls")),
]
