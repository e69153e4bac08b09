from django.db.models import QuerySet

from essmon.accounts.models import User
from essmon.gateways.models import Gateway


def gateways_of(*, user: User) -> QuerySet[Gateway]:
    """The gateways a customer owns or holds, with their 案件, for menus and lists."""
    return (
        Gateway.objects.filter(owner=user)
        .select_related("site")
        .order_by("claimed_at", "gateway_id")
    )
