"""販売店様: registration on the entry site, and the dealer's own menu."""

from django.urls import path

from essmon.dealers.views import dealer, entry, replacement, staff_logins

app_name = "dealers"
urlpatterns = [
    # 販売店様の登録 (registration site); activation is the customers' /activate/ flow
    path("entry/terms/", entry.terms, name="entry_terms"),
    path("entry/form/", entry.form, name="entry_form"),
    path("entry/confirm/", entry.confirm, name="entry_confirm"),
    path("entry/done/", entry.done, name="entry_done"),
    # 販売店様メニュー
    path("", dealer.menu, name="menu"),
    path("profile/", dealer.profile, name="profile"),
    path("staff/", dealer.staff, name="staff"),
    path("staff/<int:staff_id>/remove/", dealer.staff_remove, name="staff_remove"),
    path("staff/confirm/<str:token>/", dealer.staff_confirm, name="staff_confirm"),
    # 販売店スタッフのログイン: the administrator's page per person, and the mailed link
    path("staff/<int:staff_id>/login/", staff_logins.staff_login, name="staff_login"),
    path("staff/accept/<str:token>/", staff_logins.staff_accept, name="staff_accept"),
    path("gateways/", dealer.gateways, name="gateways"),
    path("gateways/<str:gateway_id>/", dealer.gateway_customer, name="gateway_customer"),
    # 故障交換: linked dealers and operators (the operator's way in: the admin's gateway page)
    path("gateways/<str:gateway_id>/replace/", replacement.replace, name="gateway_replace"),
]
