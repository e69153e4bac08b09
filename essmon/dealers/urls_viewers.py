"""The customer's 見守り (family viewers), under /menu/viewers/, and the invitation's link."""

from django.urls import path

from essmon.dealers.views import viewers

app_name = "viewers"

urlpatterns = [
    path("", viewers.menu, name="menu"),
    path("<int:viewer_id>/revoke/", viewers.revoke, name="revoke"),
    path("accept/<str:token>/", viewers.accept, name="accept"),
]
