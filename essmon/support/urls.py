"""The ``support`` namespace: サポートデスク (either operator role) and 製造登録コンソール
(管理担当)."""

from django.urls import path

from essmon.support.views import console, desk

app_name = "support"

urlpatterns = [
    path("", desk.search, name="search"),
    path("actions/", desk.actions, name="actions"),
    path("people/<int:user_id>/", desk.person, name="person"),
    path("people/<int:user_id>/resend/", desk.resend, name="resend_provisional"),
    path("people/<int:user_id>/unlock/", desk.unlock, name="unlock"),
    path("gateways/<str:gateway_id>/", desk.gateway, name="gateway"),
    path("gateways/<str:gateway_id>/release/", desk.release, name="release_hold"),
    path("gateways/<str:gateway_id>/replace/", desk.replace, name="replace"),
    path("console/", console.console, name="console"),
    path("console/provision/", console.provision, name="provision"),
    path("console/import/", console.import_list, name="import"),
    path("console/sheets/", console.sheets, name="sheets"),
]
