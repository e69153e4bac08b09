from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from essmon.accounts.forms import LimitedAdminAuthenticationForm

admin.site.site_header = "遠隔モニタリングサービス 運営管理"
admin.site.site_title = "essmon 運営管理"
admin.site.login_form = LimitedAdminAuthenticationForm

urlpatterns = [
    # the admin's login offers a reset when this name exists: a locked operator needs one
    path(
        "admin/password_reset/",
        RedirectView.as_view(pattern_name="accounts:password_reset"),
        name="admin_password_reset",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("essmon.telemetry.urls")),
    path("api/v1/", include("essmon.commands.urls")),
    path("monitoring/", include("essmon.monitoring.urls")),
    path("dealer/", include("essmon.dealers.urls")),
    path("menu/dealers/", include("essmon.dealers.urls_links")),
    path("menu/account/alerts/", include("essmon.alerts.urls")),
    path("", include("essmon.accounts.urls")),
]
