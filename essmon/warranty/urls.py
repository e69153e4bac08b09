"""Mounted inside the monitoring site's namespace (essmon/monitoring/urls.py includes these),
so the tab's URLs read /monitoring/<gateway_id>/warranty/."""

from django.urls import path

from essmon.warranty import views

urlpatterns = [
    path("<str:gateway_id>/warranty/", views.warranty, name="warranty"),
    path(
        "<str:gateway_id>/warranty/certificate.pdf", views.certificate, name="warranty_certificate"
    ),
]
