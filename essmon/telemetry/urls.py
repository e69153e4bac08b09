from django.urls import path

from essmon.telemetry import api

app_name = "telemetry"
urlpatterns = [
    path("telemetry", api.telemetry, name="telemetry"),
    path("status", api.status, name="status"),
    path("events", api.events, name="events"),
]
