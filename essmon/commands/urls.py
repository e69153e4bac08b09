from django.urls import path

from essmon.commands import api

app_name = "commands"
urlpatterns = [
    path("commands", api.commands, name="commands"),
    path("results", api.results, name="results"),
]
