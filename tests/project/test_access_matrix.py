"""Who may open what, for every role, by every method: every named URL.

``TABLE``: the URLs that take a gateway, 案件, account or dealer identifier. Another party's
object answers 404 (its existence does not leak) and no other party's data appears in a body.
``API``: every operation of the public API v1 (/api/public/v1/), called with a token of each
role that can hold one (a viewer's or operator's token, made behind the pages' back, and no
token at all answer 401), with the roles that reach the object; a role that may call the
operation but not see the object gets 404, never 403. ``PAGES``: every other named URL,
with the roles that get the page; anyone else signed in is
sent elsewhere or answered 404, never shown it, and an anonymous visitor is sent to a login
page unless the page is public. Mailed-link pages (an unknown token: 410) and the gateways'
API (no session opens it) have their own kinds.

A new URL joins one of the three; ``test_every_named_url_is_in_the_matrix`` fails until it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.urls import reverse

from tests import factories
from tests.access_world import World, named_patterns, world_for_the_module

pytestmark = pytest.mark.django_db

IDENTIFIERS = {
    "gateway_id",
    "site_id",
    "user_id",
    "account_id",
    "dealer_code",
    "staff_id",
    "viewer_id",
    "transfer_id",
    "token_id",
    "endpoint_id",
}
ROLES = (
    "anonymous",
    "owner",
    "other_customer",
    "linked_dealer",
    "unlinked_dealer",
    "dealer_after_unlink",
    "operator",  # 運営者(管理担当): administration
    "support_operator",  # 運営者(サポート担当): the support desk, every gateway read-only
    "viewer",
    "revoked_viewer",
    # a dealer's staff with logins (販売店スタッフ): of the linked dealer, by role, and a
    # 技術担当 of a dealer that is not linked
    "dealer_technician",
    "dealer_viewer",
    "staff_of_unlinked_dealer",
    # the owner's seller: it gave the gateway away by 名義変更 and sees nothing of it now
    "previous_owner",
)


@dataclass(frozen=True)
class Row:
    name: str
    allowed: frozenset[str]  # roles that reach the object; everyone else but anonymous: 404
    query: str = ""  # the identifier goes in this query parameter instead of the path


OWNER = frozenset({"owner"})
LINKED_DEALER = frozenset({"linked_dealer"})  # its administrator (the dealer's own account)
TECHNICIAN = frozenset({"dealer_technician"})
LINKED_STAFF = TECHNICIAN | {"dealer_viewer"}
# both operator roles; a support operator reads the settings, and a POST answers 405
MONITORING = frozenset({"owner", "linked_dealer", "operator", "support_operator"}) | LINKED_STAFF
DESK = frozenset({"operator", "support_operator"})
# a family viewer (見守り): the live state and the history, nothing else
WATCHING = MONITORING | {"viewer"}
WATCHED_PAGES = ("live", "live_fragment", "history", "history_data", "history_csv")
MONITORING_PAGES = (
    "settings_progress",
    "alerts",
    "warranty",
    "warranty_certificate",
)
MONITORING_ROWS = (
    tuple(Row(f"monitoring:{name}", WATCHING) for name in WATCHED_PAGES)
    + tuple(Row(f"monitoring:{name}", MONITORING) for name in MONITORING_PAGES)
    # a support operator and a 閲覧のみ staff member read the settings; their POST answers 405
    + (Row("monitoring:settings", MONITORING),)
)
TABLE = (
    Row("links:gateway", OWNER),
    Row("links:link_form", OWNER),
    Row("links:link_confirm", OWNER),
    Row("links:link_done", OWNER),
    Row("links:unlink_dealers", OWNER),
    Row("links:unlink_confirm", OWNER),
    Row("links:unlink_done", OWNER),
    Row("dealers:gateway_customer", LINKED_DEALER | LINKED_STAFF),
    # the dealer's staff and their logins: its administrator only
    Row("dealers:staff_remove", LINKED_DEALER),
    Row("dealers:staff_login", LINKED_DEALER),
    # 故障交換: the installer's business (a linked dealer, its 技術担当) or the maker's,
    # not the owner's; operators are sent to the support desk's page, which asks the reason
    Row("dealers:gateway_replace", frozenset({"linked_dealer"}) | DESK | TECHNICIAN),
    Row("support:replace", DESK),
    # the support desk: an account's and a gateway's page and the actions on them
    *(
        Row(f"support:{name}", DESK)
        for name in ("person", "resend_provisional", "unlock", "gateway", "release_hold")
    ),
    Row("viewers:revoke", OWNER),
    # アクセストークン: the world's token is the owner's; nobody else deletes it, not even
    # through the dealers' page
    Row("api_tokens:revoke", OWNER),
    Row("dealer_api_tokens:revoke", OWNER),
    # 名義変更: the owner starts (by 案件) and cancels (by transfer); an operator of either
    # role starts by the gateway the support desk found, and cancels an open transfer (by its
    # id), each with a reason
    Row("transfers:start", OWNER),
    Row("transfers:cancel", OWNER),
    Row("transfers:operator_start", DESK),
    Row("transfers:operator_cancel", DESK),
    # webhooks: an endpoint is its holder's alone (the customer's, the dealer administrator's)
    *(
        Row(f"webhooks:{prefix}{name}", holder)
        for prefix, holder in (("", OWNER), ("dealer_", LINKED_DEALER))
        for name in ("endpoint", "rotate", "toggle", "resume", "test", "delete")
    ),
    *MONITORING_ROWS,
    # acknowledging is the dealers' (and operators') business; the owner sees the result
    Row("monitoring:alert_acknowledge", frozenset({"linked_dealer", "operator"}) | TECHNICIAN),
    # the switcher's form: /monitoring/switch/?gateway=<id>
    Row("monitoring:switch", WATCHING, query="gateway"),
)


@dataclass(frozen=True)
class Operation:
    """One operation of the public API v1: its URL name, method, the scope it needs, and the
    roles whose token reaches the object. A list (no identifier) is answered to every role
    with a token, each seeing its own; ``allowed`` then says who finds the world's gateway
    in it."""

    name: str
    method: str
    scope: str
    allowed: frozenset[str]
    body: dict | None = None  # the JSON body of a POST


# roles that can hold a token: customers and dealers' people (docs/api.md, "Tokens"); the
# others (viewers, operators) get none and answer 401 with one made behind the pages' back
TOKEN_ROLES = frozenset(
    {
        "owner",
        "other_customer",
        "previous_owner",
        "linked_dealer",
        "unlinked_dealer",
        "dealer_after_unlink",
        "dealer_technician",
        "dealer_viewer",
        "staff_of_unlinked_dealer",
    }
)
API_VIEW = frozenset({"owner", "linked_dealer"}) | LINKED_STAFF
API = (
    Operation("public_api:list_sites", "get", "read", API_VIEW),
    Operation("public_api:list_gateways", "get", "read", API_VIEW),
    Operation("public_api:get_gateway", "get", "read", API_VIEW),
    Operation("public_api:get_live", "get", "read", API_VIEW),
    Operation("public_api:get_warranty", "get", "read", API_VIEW),
    Operation("public_api:get_energy", "get", "read", API_VIEW),
    Operation("public_api:list_samples", "get", "read", API_VIEW),
    Operation("public_api:list_gateway_alerts", "get", "read", API_VIEW),
    Operation("public_api:list_alerts", "get", "read", API_VIEW),
    # the maintaining dealer's work, as on the 異常の履歴 tab: an owner or a 閲覧のみ login
    # finds no such gateway (404), before any scope is asked of the token
    Operation(
        "public_api:acknowledge_alert",
        "post",
        "alerts",
        frozenset({"linked_dealer"}) | TECHNICIAN,
        body={"comment": "明日伺います"},
    ),
    Operation("public_api:list_setting_changes", "get", "read", API_VIEW),
    # the settings tab's rule: not a 閲覧のみ login
    Operation(
        "public_api:create_setting_changes",
        "post",
        "settings",
        frozenset({"owner", "linked_dealer"}) | TECHNICIAN,
        body={"values": {"export_limit_w": 1234}},
    ),
    Operation("public_api:get_setting_change", "get", "read", API_VIEW),
)
# the API's own pages: its OpenAPI document and reference (the root sends to it), public
API_DOCUMENTS = ("public_api:api-root", "public_api:openapi-json", "public_api:openapi-view")


@dataclass(frozen=True)
class Page:
    name: str
    allowed: frozenset[str]  # roles that get the page; with "anonymous": a public page
    # "token": a mailed link's page; "api": the gateways' API; "admin": the admin's, whose
    # login anyone else is sent to; "to login": public, and it may send you to a login page;
    # "hidden": anyone else signed in finds nothing (404), by either method, as on the
    # pages below it that take an identifier
    kind: str = "page"


PUBLIC = frozenset(ROLES)
SIGNED_IN = PUBLIC - {"anonymous"}
CUSTOMERS = frozenset({"owner", "other_customer", "previous_owner"})
DEALERS = frozenset({"linked_dealer", "unlinked_dealer", "dealer_after_unlink"})
OPERATOR = frozenset({"operator"})
SUPPORT = frozenset({"support_operator"})
VIEWERS = frozenset({"viewer", "revoked_viewer"})
STAFF = frozenset({"dealer_technician", "dealer_viewer", "staff_of_unlinked_dealer"})
NOBODY: frozenset[str] = frozenset()
PAGES = (
    # the registration site: public pages, and the steps of a flow (without its earlier
    # steps in the session they send the visitor back, never to a login page)
    *(
        Page(f"accounts:{name}", PUBLIC)
        for name in (
            "landing",
            "manual",
            "sample_sheet",
            "postal_lookup",
            "entry_terms",
            "entry_form",
            "entry_confirm",
            "entry_done",
            "login",
            "password_reset",
            "password_reset_sent",
            "password_reset_confirm",
            "password_reset_complete",
        )
    ),
    # after activation, and after logging out, the next page is the login page
    Page("accounts:activate_done", PUBLIC, kind="to login"),
    Page("accounts:logout", PUBLIC, kind="to login"),
    *(
        Page(f"dealers:{name}", PUBLIC)
        for name in ("entry_terms", "entry_form", "entry_confirm", "entry_done")
    ),
    # 名義変更 for a buyer without an account: the code, then the registration's steps
    # (without a verified code in the session they send the visitor back to the code page)
    *(
        Page(f"transfers:{name}", PUBLIC)
        for name in ("entry", "entry_terms", "entry_form", "entry_confirm", "entry_done")
    ),
    Page("monitoring:login", PUBLIC),
    Page("privacy:withdrawn", PUBLIC),
    Page("admin_password_reset", PUBLIC),
    # mailed links: an unknown token is gone (410) for everybody
    *(
        Page(f"accounts:{name}", PUBLIC, kind="token")
        for name in ("activate", "activate_password", "email_change_confirm", "unlock")
    ),
    Page("dealers:staff_confirm", PUBLIC, kind="token"),
    Page("dealers:staff_accept", PUBLIC, kind="token"),
    Page("viewers:accept", PUBLIC, kind="token"),
    *(Page(name, PUBLIC) for name in API_DOCUMENTS),
    # the gateways' API: a session opens nothing
    *(
        Page(name, NOBODY, kind="api")
        for name in (
            "telemetry:telemetry",
            "telemetry:status",
            "telemetry:events",
            "commands:commands",
            "commands:results",
        )
    ),
    # any account: its own mail address and password
    *(Page(f"accounts:{name}", SIGNED_IN) for name in ("email_change", "password_change")),
    # 利用規約の改定 (with nothing to agree to, the page sends one on to the menu)
    *(Page(f"accounts:{name}", SIGNED_IN) for name in ("terms_renewal", "terms_declined")),
    # 保守を任せる販売店様の管理: a customer's alone; the gateway's pages below it answer
    # anyone else 404, and so do these
    *(
        Page(f"links:{name}", CUSTOMERS, kind="hidden")
        for name in ("menu", "link_search", "unlink_search")
    ),
    # the customer's own pages (the operator's menu is the same URL)
    *(
        Page(f"accounts:{name}", CUSTOMERS)
        for name in (
            "account",
            "profile",
            "gateway_add",
            "gateway_add_site",
            "gateway_add_confirm",
            "gateway_add_done",
        )
    ),
    Page("accounts:menu", CUSTOMERS | OPERATOR | SUPPORT | VIEWERS),
    # the support desk's search and record: both operator roles; the provisioning console:
    # administration only
    *(Page(f"support:{name}", OPERATOR | SUPPORT) for name in ("search", "actions")),
    *(Page(f"support:{name}", OPERATOR) for name in ("console", "provision", "import", "sheets")),
    Page("viewers:menu", CUSTOMERS),
    # webhooks: any customer's own list; a dealer's for its administrator only
    Page("webhooks:menu", CUSTOMERS),
    Page("webhooks:dealer_menu", DEALERS),
    # 名義変更: any customer's own list, and the buyer's claim (done: once, after a claim)
    *(Page(f"transfers:{name}", CUSTOMERS) for name in ("menu", "claim", "claim_done")),
    Page("alerts:mail_preferences", CUSTOMERS),
    # アクセストークン: customers under the menu, dealers' people under theirs (viewers and
    # operators may hold none)
    Page("api_tokens:menu", CUSTOMERS),
    Page("dealer_api_tokens:menu", DEALERS | STAFF),
    Page("privacy:data_export", CUSTOMERS),
    # a viewer deletes its own account the same way
    Page("privacy:withdraw", CUSTOMERS | VIEWERS),
    # the dealer's pages: the menu and the entrusted gateways for its staff too; the profile
    # and the staff (with their logins) for its administrator only
    *(Page(f"dealers:{name}", DEALERS | STAFF) for name in ("menu", "gateways")),
    *(Page(f"dealers:{name}", DEALERS) for name in ("profile", "staff")),
    # the fleet: dealers and operators (a customer's /monitoring/ goes to its own system)
    Page("monitoring:index", SIGNED_IN),
    Page("monitoring:fleet_csv", DEALERS | OPERATOR | SUPPORT | STAFF),
    # the admin's own password change: anyone without staff rights gets the admin's login
    Page("admin_password_change", OPERATOR, kind="admin"),
)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    """One world for the module, each test in a savepoint of it (tests/access_world.py)."""
    yield from world_for_the_module(django_db_blocker)


def test_every_identifier_url_is_in_the_table():
    tabled = {row.name for row in TABLE} | {operation.name for operation in API}
    missing = [
        name
        for name, pattern in named_patterns().items()
        if not name.startswith("admin:") and IDENTIFIERS & set(pattern.pattern.converters)
    ]
    assert sorted(set(missing) - tabled) == []


def test_every_named_url_is_in_the_matrix():
    """Django's admin aside (its own permissions, tests/core/test_operator_admin.py), every named
    URL is in TABLE or PAGES, once."""
    names = (
        [row.name for row in TABLE]
        + [page.name for page in PAGES]
        + [operation.name for operation in API]
    )
    assert len(names) == len(set(names))
    named = {name for name in named_patterns() if not name.startswith("admin:")}
    assert sorted(named - set(names)) == []
    assert sorted(set(names) - named) == []


LOGIN_PAGES = ("/login/", "/monitoring/login/", "/admin/login/")


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_access(world, page, role, method):
    pattern = named_patterns()[page.name]
    url = reverse(page.name, kwargs=dict.fromkeys(pattern.pattern.converters, "x"))
    response = getattr(world.client_for(role), method)(url)
    status, to = response.status_code, response.get("Location", "")
    to_login = status == 302 and to.startswith(LOGIN_PAGES)
    if page.kind == "api":
        assert status in (401, 405, 415), status
    elif page.kind == "token":
        assert status == 410 if method == "get" else status in (405, 410), status
    elif page.kind == "to login":
        assert status in (200, 302, 405), status
    elif page.kind == "admin" and role not in page.allowed:
        assert status == 302 and to.startswith("/admin/login/"), (status, to)
    elif role in page.allowed:
        assert status in (200, 302, 400, 405), status  # 400: an empty form or query refused
        assert not to_login, to
    elif role == "anonymous":
        assert to_login or status == 405, (status, to)
    elif page.kind == "hidden":
        assert status == 404, (status, to)
    else:
        assert status in (302, 404, 405), status  # sent elsewhere or not found: never shown
        assert not to_login, to


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_access(world, row, role, method):
    client = world.client_for(role)
    url = world.url(row)
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
    if role in VIEWERS:
        for secret in world.private_of_owner():
            assert secret not in body, secret
    if role in DESK and row in MONITORING_ROWS:
        return  # operators see every gateway by design (the monitoring switcher lists them)
    for secret in world.private_of_other():
        assert secret not in body


def test_every_api_operation_is_in_the_matrix():
    """Each operation of the published document is a row of API (and no row is stale)."""
    from essmon.api.app import api

    document = api.get_openapi_schema()
    published = {
        (method, operation["operationId"])
        for operations in document["paths"].values()
        for method, operation in operations.items()
    }
    # an operation's id is its function's name, which is also its URL name (essmon/api/app.py)
    assert published == {(row.method, row.name.partition(":")[2]) for row in API}


API_ROLES = (*ROLES, "invalid_token")


@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("operation", API, ids=lambda operation: operation.name)
def test_api_access(world, operation, role):
    """Every operation as every role, with a token of that role holding every scope it may."""
    from tests.api_helpers import problem

    client = world.api_client_for(role)
    url = world.api_url(operation.name)
    response = client.request(operation.method, url, operation.body)
    body = response.content.decode(errors="replace")
    if role not in TOKEN_ROLES:  # anonymous, an invalid token, a viewer's, an operator's
        problem(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
        return
    lists = "gateway_id" not in named_patterns()[operation.name].pattern.converters
    if role in operation.allowed:
        assert response.status_code in (200, 201, 202), (response.status_code, body[:500])
        assert world.gateway.gateway_id in body
    elif lists:
        assert response.status_code == 200, (response.status_code, body[:500])
        assert world.gateway.gateway_id not in body
    else:
        problem(response, 404)
    for secret in world.private_of_owner() if role not in operation.allowed else ():
        assert secret not in body
    for secret in world.private_of_other() if role != "other_customer" else ():
        assert secret not in body


def test_not_found_is_a_japanese_page(client, settings):
    settings.DEBUG = False
    response = client.get("/menu/dealers/gateways/99ZZ99999999/")
    assert response.status_code in (302, 404)
    client.force_login(factories.customer())
    response = client.get("/menu/dealers/gateways/99ZZ99999999/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()
