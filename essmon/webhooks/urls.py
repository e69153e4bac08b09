"""The endpoint pages: the customer's under /menu/webhooks/, the dealer's under
/dealer/webhooks/ (its administrator only)."""

from django.urls import path

from essmon.webhooks.views import customer_views, dealer_views

app_name = "webhooks"

ACTIONS = ("rotate", "toggle", "resume", "test", "delete")

urlpatterns = [
    path("menu/webhooks/", customer_views["menu"], name="menu"),
    path("menu/webhooks/<int:endpoint_id>/", customer_views["endpoint"], name="endpoint"),
    *(
        path(f"menu/webhooks/<int:endpoint_id>/{action}/", customer_views[action], name=action)
        for action in ACTIONS
    ),
    path("dealer/webhooks/", dealer_views["menu"], name="dealer_menu"),
    path("dealer/webhooks/<int:endpoint_id>/", dealer_views["endpoint"], name="dealer_endpoint"),
    *(
        path(
            f"dealer/webhooks/<int:endpoint_id>/{action}/",
            dealer_views[action],
            name=f"dealer_{action}",
        )
        for action in ACTIONS
    ),
]
