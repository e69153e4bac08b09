"""Who may open what: every URL that takes a gateway, 案件, account or dealer identifier,
for every role, by every method. Another party's object answers 404 (its existence does not
leak) and no other party's data appears in a body.

By convention a new URL with such an identifier joins ``TABLE``;
``test_every_identifier_url_is_in_the_table`` fails until it does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from essmon.dealers import services as dealer_services
from tests import factories

pytestmark = pytest.mark.django_db

IDENTIFIERS = {"gateway_id", "site_id", "user_id", "account_id", "dealer_code", "staff_id"}
ROLES = (
    "anonymous",
    "owner",
    "other_customer",
    "linked_dealer",
    "unlinked_dealer",
    "dealer_after_unlink",
    "operator",
)


@dataclass(frozen=True)
class Row:
    name: str
    allowed: frozenset[str]  # roles that reach the object; everyone else but anonymous: 404


OWNER = frozenset({"owner"})
LINKED_DEALER = frozenset({"linked_dealer"})
MONITORING = frozenset({"owner", "linked_dealer", "operator"})
MONITORING_PAGES = ("live", "live_fragment", "history", "history_data", "history_csv",
                    "settings", "settings_progress", "alerts", "warranty",
                    "warranty_certificate")  # fmt: skip
MONITORING_ROWS = tuple(Row(f"monitoring:{name}", MONITORING) for name in MONITORING_PAGES)
TABLE = (
    Row("links:gateway", OWNER),
    Row("links:link_form", OWNER),
    Row("links:link_confirm", OWNER),
    Row("links:link_done", OWNER),
    Row("links:unlink_dealers", OWNER),
    Row("links:unlink_confirm", OWNER),
    Row("links:unlink_done", OWNER),
    Row("dealers:gateway_customer", LINKED_DEALER),
    Row("dealers:staff_remove", LINKED_DEALER),
    *MONITORING_ROWS,
    # acknowledging is the dealers' (and operators') business; the owner sees the result
    Row("monitoring:alert_acknowledge", frozenset({"linked_dealer", "operator"})),
)


@dataclass
class World:
    owner: object
    gateway: object
    linked: object
    unlinked: object
    after_unlink: object
    other: object
    other_gateway: object
    operator: object
    alert: object

    def kwargs(self, name: str) -> dict:
        values = {
            "gateway_id": self.gateway.gateway_id,
            "dealer_code": self.linked.dealer_code,
            "staff_id": self.linked.staff.first().pk,
            "alert_id": self.alert.pk,
        }
        pattern = _patterns()[name]
        return {k: values[k] for k in pattern.pattern.converters}

    def client_for(self, role: str) -> Client:
        users = {
            "owner": self.owner,
            "other_customer": self.other,
            "linked_dealer": self.linked.user,
            "unlinked_dealer": self.unlinked.user,
            "dealer_after_unlink": self.after_unlink.user,
            "operator": self.operator,
        }
        client = Client()
        if role != "anonymous":
            client.force_login(users[role])
        return client

    def private_of_owner(self) -> list[str]:
        return [self.owner.email, "075-555-0101", "オーナー　タロウ", "秘密の案件"]

    def private_of_other(self) -> list[str]:
        return [self.other.email, "他人の案件", self.other_gateway.gateway_id]


@pytest.fixture
def world() -> World:
    from essmon.accounts.models import User

    owner = factories.customer(
        email="owner@example.jp",
        name="所有 太郎",
        furigana="オーナー　タロウ",
        phone="+81755550101",
    )
    gateway = factories.owned_gateway(owner=owner, site_name="秘密の案件")
    other = factories.customer(email="other@example.jp", name="他人 花子")
    other_gateway = factories.owned_gateway(owner=other, site_name="他人の案件")
    linked, unlinked, after_unlink = factories.dealer(), factories.dealer(), factories.dealer()
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=linked)
    dealer_services.link_dealer(customer=owner, gateway=gateway, dealer=after_unlink)
    dealer_services.unlink_dealer(customer=owner, gateway=gateway, dealer=after_unlink)
    operator = factories.customer(
        email="op@example.jp",
        name="運営",
        role=User.Role.OPERATOR,
        is_staff=True,
        is_superuser=True,
    )
    from django.utils import timezone

    from essmon.alerts.models import Alert

    alert = Alert.objects.create(gateway=gateway, kind="offline", severity="major",
                                 title="ゲートウェイからの通信が途絶えています",
                                 since=timezone.now())  # fmt: skip
    return World(owner, gateway, linked, unlinked, after_unlink, other, other_gateway, operator,
                 alert)  # fmt: skip


def _walk(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _walk(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{prefix}{entry.name}", entry


def _patterns() -> dict[str, URLPattern]:
    return dict(_walk(get_resolver().url_patterns))


def test_every_identifier_url_is_in_the_table():
    tabled = {row.name for row in TABLE}
    missing = [
        name
        for name, pattern in _patterns().items()
        if not name.startswith("admin:") and IDENTIFIERS & set(pattern.pattern.converters)
    ]
    assert sorted(set(missing) - tabled) == []


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_access(world, row, role, method):
    client = world.client_for(role)
    url = reverse(row.name, kwargs=world.kwargs(row.name))
    response = getattr(client, method)(url)
    body = response.content.decode(errors="replace")
    if role == "anonymous":
        assert response.status_code in (302, 405), response.status_code
        if response.status_code == 302:
            assert response.url.startswith((reverse("accounts:login"), reverse("monitoring:login")))
    elif role in row.allowed:
        # 400: an empty POST to a form, refused as input, not as access
        assert response.status_code in (200, 302, 400, 405), (response.status_code, body[:500])
        if response.status_code == 302:
            assert not response.url.startswith(
                (reverse("accounts:login"), reverse("monitoring:login"))
            )
    else:
        assert response.status_code in (404, 405), (response.status_code, body[:500])
        for secret in world.private_of_owner():
            assert secret not in body
    if role == "operator" and row in MONITORING_ROWS:
        return  # operators see every gateway by design (the monitoring switcher lists them)
    for secret in world.private_of_other():
        assert secret not in body


def test_not_found_is_a_japanese_page(client, settings):
    settings.DEBUG = False
    response = client.get("/menu/dealers/gateways/99ZZ99999999/")
    assert response.status_code in (302, 404)
    client.force_login(factories.customer())
    response = client.get("/menu/dealers/gateways/99ZZ99999999/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()
