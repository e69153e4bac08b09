"""Query strings on the pages issue 12 added or changed (the dealer's search and paging, the
fleet's filters and CSV, the owner's list, the operator's menu, the postal look-up): garbage
is answered, never a 500, on either database."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

GARBAGE = [
    "page=abc",
    "page=-1",
    "page=99999999999999999999",
    "q=%00",
    "q=" + "x" * 5000,
    "status=zzz&sort=zzz",
    "page=1&page=2",
    "code=%00",
    "code=" + "1" * 500,
    "code[]=1",
]


@pytest.mark.parametrize("query", GARBAGE)
def test_garbage_in_the_query_string_is_no_server_error(client, query):
    dealer = factories.dealer()
    owner = factories.customer()
    factories.owned_gateway(owner=owner)
    factories.owned_gateway(owner=owner)
    operator = factories.customer(
        role="operator", is_staff=True, is_superuser=True, email="op@example.jp"
    )
    pages = {
        dealer.user: ["dealers:gateways", "monitoring:index", "monitoring:fleet_csv"],
        owner: ["monitoring:index", "accounts:postal_lookup"],
        operator: ["accounts:menu", "monitoring:index"],
    }
    for user, names in pages.items():
        client.force_login(user)
        for name in names:
            response = client.get(f"{reverse(name)}?{query}")
            assert response.status_code < 500, (name, response.status_code)
