from django.contrib import admin
from django.urls import include, path

from essmon.accounts.forms import LimitedAdminAuthenticationForm

admin.site.site_header = "遠隔モニタリングサービス 運営管理"
admin.site.site_title = "essmon 運営管理"
admin.site.login_form = LimitedAdminAuthenticationForm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("essmon.telemetry.urls")),
    path("api/v1/", include("essmon.commands.urls")),
    path("monitoring/", include("essmon.monitoring.urls")),
    path("dealer/", include("essmon.dealers.urls")),
    path("menu/dealers/", include("essmon.dealers.urls_links")),
    path("menu/account/alerts/", include("essmon.alerts.urls")),
    path("", include("essmon.accounts.urls")),
]
