"""The customer's 保守を任せる販売店様の管理 (link and unlink dealers), under /menu/dealers/."""

from django.urls import path

from essmon.dealers.views import customer

app_name = "links"

urlpatterns = [
    path("", customer.menu, name="menu"),
    path("gateways/<str:gateway_id>/", customer.gateway, name="gateway"),
    # 保守を任せる販売店様登録
    path("link/", customer.link_search, name="link_search"),
    path("link/<str:gateway_id>/", customer.link_form, name="link_form"),
    path("link/<str:gateway_id>/confirm/", customer.link_confirm, name="link_confirm"),
    path("link/<str:gateway_id>/done/", customer.link_done, name="link_done"),
    # 保守している販売店様解除
    path("unlink/", customer.unlink_search, name="unlink_search"),
    path("unlink/<str:gateway_id>/", customer.unlink_dealers, name="unlink_dealers"),
    path("unlink/<str:gateway_id>/done/", customer.unlink_done, name="unlink_done"),
    path(
        "unlink/<str:gateway_id>/dealers/<str:dealer_code>/",
        customer.unlink_confirm,
        name="unlink_confirm",
    ),
]
