"""The access matrix's world (its people and objects) and the walk over every named URL,
shared by the tests that request every page as every kind of user."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from essmon.dealers.services.links import link_dealer, unlink_dealer
from tests import factories

# the kinds of user the header and form checks request every page as
ROLES = ("anonymous", "owner", "linked_dealer", "operator", "viewer")
# path parameters that are not identifiers of the access matrix: any value will do
PLACEHOLDERS = {"token": "no-such-token", "uidb64": "MQ"}


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
    support_operator: object  # 運営者(サポート担当)
    alert: object
    viewer: object  # a family viewer of ``gateway`` (見守り)
    revoked_viewer: object  # one whose 見守り the owner has revoked
    viewer_row: object  # the viewer's SiteViewer record
    technician: object  # 販売店スタッフ of ``linked``: 技術担当
    staff_viewer: object  # 販売店スタッフ of ``linked``: 閲覧のみ
    unlinked_staff: object  # a 技術担当 of ``unlinked``
    previous_owner: object  # who owned ``gateway`` before a 名義変更 to ``owner``
    transfer: object  # ``owner``'s pending 名義変更 of the gateway's site
    endpoint: object  # ``owner``'s webhook endpoint
    dealer_endpoint: object  # ``linked``'s webhook endpoint
    api_token: object = None  # an access token of ``owner`` (essmon.api)
    command: object = None  # a setting change of ``gateway`` the owner asked for

    def kwargs(self, name: str) -> dict:
        values = {
            "gateway_id": self.gateway.gateway_id,
            "dealer_code": self.linked.dealer_code,
            "staff_id": self.linked.staff.first().pk,
            "alert_id": self.alert.pk,
            "viewer_id": self.viewer_row.pk,
            "user_id": self.owner.pk,
            "site_id": self.gateway.site_id,
            "transfer_id": self.transfer.pk,
            "token_id": self.api_token.pk,
            "endpoint_id": self.endpoint_for(name).pk,
            "change_id": self.command.pk,
        }
        pattern = named_patterns()[name]
        return {k: values[k] for k in pattern.pattern.converters}

    def endpoint_for(self, name: str):
        """The webhook endpoint a URL name takes: the dealer's pages', or the owner's."""
        return self.dealer_endpoint if name.startswith("webhooks:dealer_") else self.endpoint

    def url(self, row) -> str:
        """A row of the matrix (its ``name`` and ``query``) as a URL on this world."""
        if row.query:
            return f"{reverse(row.name)}?{row.query}={self.gateway.gateway_id}"
        return reverse(row.name, kwargs=self.kwargs(row.name))

    def client_for(self, role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(self.user_for(role))
        return client

    def user_for(self, role: str):
        return {
            "owner": self.owner,
            "other_customer": self.other,
            "linked_dealer": self.linked.user,
            "unlinked_dealer": self.unlinked.user,
            "dealer_after_unlink": self.after_unlink.user,
            "operator": self.operator,
            "support_operator": self.support_operator,
            "viewer": self.viewer,
            "revoked_viewer": self.revoked_viewer,
            "dealer_technician": self.technician,
            "dealer_viewer": self.staff_viewer,
            "staff_of_unlinked_dealer": self.unlinked_staff,
            "previous_owner": self.previous_owner,
        }[role]

    def api_client_for(self, role: str):
        """The public API as ``role``: a token with every scope the role may hold; a role
        that may hold none (a viewer, an operator) gets one written behind the pages'
        back; "invalid_token" a well-formed token nobody made; "anonymous" no header."""
        from tests.api_helpers import ApiClient, make_token, unmade_token

        if role == "anonymous":
            return ApiClient(None)
        if role == "invalid_token":
            return ApiClient("essmon_pat_" + "x" * 43)
        user = self.user_for(role)
        try:
            return ApiClient(make_token(user))
        except Exception:
            return ApiClient(unmade_token(user))

    def api_url(self, name: str) -> str:
        """An operation's URL on this world, relative to the API's prefix."""
        from tests.api_helpers import PREFIX

        return reverse(name, kwargs=self.kwargs(name)).removeprefix(PREFIX)

    def private_of_owner(self) -> list[str]:
        return [self.owner.email, "075-555-0101", "オーナー　タロウ", "秘密の案件"]

    def private_of_other(self) -> list[str]:
        return [self.other.email, "他人の案件", self.other_gateway.gateway_id]


def build_world() -> World:
    """The access matrix's people and objects: an owner and another customer with a gateway
    each, a linked, an unlinked and a formerly linked dealer, an operator, an open alert,
    a family viewer of the owner's gateway and one whose 見守り was revoked, staff with
    logins (the linked dealer's 技術担当 and 閲覧のみ, the unlinked dealer's 技術担当); the
    owner received the gateway by 名義変更 from a previous owner, and has started another."""
    from essmon.accounts.models import User
    from essmon.transfers.services import claim_transfer, start_transfer, terms_in_force

    owner = factories.customer(
        email="owner@example.jp",
        name="所有 太郎",
        furigana="オーナー　タロウ",
        phone="+81755550101",
    )
    previous_owner = factories.customer(email="previous@example.jp", name="前所有 次郎")
    gateway = factories.owned_gateway(owner=previous_owner, site_name="秘密の案件")
    started = start_transfer(site=gateway.site, actor=previous_owner)
    claim_transfer(buyer=owner, code=started.code, terms=terms_in_force(), client_address=None)
    gateway.refresh_from_db()
    other = factories.customer(email="other@example.jp", name="他人 花子")
    other_gateway = factories.owned_gateway(owner=other, site_name="他人の案件")
    linked, unlinked, after_unlink = factories.dealer(), factories.dealer(), factories.dealer()
    link_dealer(customer=owner, gateway=gateway, dealer=linked)
    link_dealer(customer=owner, gateway=gateway, dealer=after_unlink)
    unlink_dealer(customer=owner, gateway=gateway, dealer=after_unlink)
    operator = factories.customer(
        email="op@example.jp",
        name="運営",
        role=User.Role.OPERATOR,
        is_staff=True,
        is_superuser=True,
    )
    support_operator = factories.customer(
        email="support@example.jp", name="窓口", role=User.Role.SUPPORT
    )
    from django.utils import timezone

    from essmon.alerts.models import Alert

    alert = Alert.objects.create(
        gateway=gateway,
        kind="offline",
        severity="major",
        title="ゲートウェイからの通信が途絶えています",
        since=timezone.now(),
    )
    from essmon.dealers.models import SiteViewer
    from essmon.dealers.services.viewers import revoke_viewer

    viewer = factories.viewer(owner=owner, gateway=gateway, email="family@example.jp")
    revoked_viewer = factories.viewer(owner=owner, gateway=gateway, email="former@example.jp")
    revoke_viewer(owner=owner, viewer_id=SiteViewer.objects.get(viewer=revoked_viewer).pk)
    transfer = start_transfer(site=gateway.site, actor=owner).transfer
    from essmon.api.services import create_token

    api_token = create_token(user=owner, name="家計簿", scopes=["read"], expires_at=None).token
    from essmon.webhooks.models import Endpoint
    from essmon.webhooks.services import seal_secret

    def endpoint(**holder):
        return Endpoint.objects.create(
            url="https://hooks.example.com/essmon",
            event_types=["alert.opened"],
            secret_sealed=seal_secret("whsec_dGVzdA=="),
            **holder,
        )

    from essmon.commands.services import request_setting_change

    command = request_setting_change(
        gateway=gateway, setting="reserve_soc_pct", value=30, requested_by=owner
    )
    return World(
        owner,
        gateway,
        linked,
        unlinked,
        after_unlink,
        other,
        other_gateway,
        operator,
        support_operator,
        alert,
        viewer,
        revoked_viewer,
        SiteViewer.objects.get(viewer=viewer, gateway=gateway),
        factories.dealer_staff(dealer=linked, role="technician", email="tech@example.jp"),
        factories.dealer_staff(dealer=linked, role="viewer", email="look@example.jp"),
        factories.dealer_staff(dealer=unlinked, role="technician", email="elsewhere@example.jp"),
        previous_owner,
        transfer,
        endpoint(owner=owner),
        endpoint(dealer=linked),
        api_token,
        command=command,
    )


def world_for_the_module(django_db_blocker) -> Iterator[World]:
    """``build_world()`` once for a test module (the body of a module-scoped fixture that
    requests pytest-django's ``django_db_setup`` and ``django_db_blocker``): the world is
    made inside a transaction that stays open through the module's tests and is rolled back
    after the last. Each test (pytest-django's ``db``: a savepoint inside it, rolled back at
    its end) starts from the same world, as if it had built its own; building it for each
    of the access matrix's ~1,500 tests was most of the matrix's time."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def _walk(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _walk(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{prefix}{entry.name}", entry


def named_patterns() -> dict[str, URLPattern]:
    return dict(_walk(get_resolver().url_patterns))


def every_url(world: World) -> list[tuple[str, tuple[str, ...]]]:
    """Every URL of the project on ``world``, the admin's included, with the methods to try."""
    values = {
        **PLACEHOLDERS,
        "gateway_id": world.gateway.gateway_id,
        "dealer_code": world.linked.dealer_code,
        "staff_id": world.linked.staff.first().pk,
        "alert_id": world.alert.pk,
        "viewer_id": world.viewer_row.pk,
        "user_id": world.owner.pk,
        "site_id": world.gateway.site_id,
        "transfer_id": world.transfer.pk,
        "token_id": world.api_token.pk,
        "change_id": world.command.pk,
    }
    both, get = ("get", "post"), ("get",)
    urls = [("/no-such-page/", both)]
    for name, pattern in named_patterns().items():
        if name.startswith("admin:"):
            continue
        values["endpoint_id"] = world.endpoint_for(name).pk
        kwargs = {k: values[k] for k in pattern.pattern.converters}
        urls.append((reverse(name, kwargs=kwargs), both))
    # the admin's pages; an empty POST to an add form would try to create an object
    admin_pages = [reverse("admin:index"), reverse("admin:login"), reverse("admin:logout")]
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        admin_pages += [reverse(f"{info}_changelist"), reverse(f"{info}_add")]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            admin_pages.append(reverse(f"{info}_change", args=[first.pk]))
    return urls + [(page, get) for page in admin_pages]
