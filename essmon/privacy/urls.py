from django.urls import path

from essmon.privacy import views

app_name = "privacy"

urlpatterns = [
    path("menu/account/data/", views.data_export, name="data_export"),
    path("menu/account/withdraw/", views.withdraw, name="withdraw"),
    path("withdrawn/", views.withdrawn, name="withdrawn"),
]
