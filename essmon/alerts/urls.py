from django.urls import path

from essmon.alerts import views

app_name = "alerts"
urlpatterns = [path("", views.mail_preferences, name="mail_preferences")]
