from django.urls import path

from essmon.monitoring import views
from essmon.monitoring.tabs import alerts as alert_views
from essmon.monitoring.tabs import warranty as warranty_views

app_name = "monitoring"
urlpatterns = [
    path("", views.index, name="index"),
    path("login/", views.login, name="login"),
    path("switch/", views.switch, name="switch"),
    path("fleet.csv", views.fleet_csv, name="fleet_csv"),
    path("<str:gateway_id>/", views.live, name="live"),
    path("<str:gateway_id>/live/", views.live_fragment, name="live_fragment"),
    path("<str:gateway_id>/history/", views.history, name="history"),
    path("<str:gateway_id>/history/data/", views.history_data, name="history_data"),
    path("<str:gateway_id>/history.csv", views.history_csv, name="history_csv"),
    path("<str:gateway_id>/settings/", views.settings_page, name="settings"),
    path("<str:gateway_id>/settings/progress/", views.settings_progress, name="settings_progress"),
    path("<str:gateway_id>/warranty/", warranty_views.warranty, name="warranty"),
    path(
        "<str:gateway_id>/warranty/certificate.pdf",
        warranty_views.certificate,
        name="warranty_certificate",
    ),
    path("<str:gateway_id>/alerts/", alert_views.alerts, name="alerts"),
    path(
        "<str:gateway_id>/alerts/<int:alert_id>/acknowledge/",
        alert_views.acknowledge,
        name="alert_acknowledge",
    ),
]
