"""The Django admin (運営管理) in a real browser, under the Content-Security-Policy: the
login, a changelist's select-all and action, a change form's scripted widgets (the
two-list permission picker, date shortcuts, the raw-id look-up pop-up) and saving. A script
or style the policy refuses fails the test (tests/browsing.py)."""

import re

import pytest
from playwright.sync_api import expect

from essmon.accounts.models import User
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_admin_works_under_the_policy(page, live_server, shots):
    operator = factories.customer(
        email="op@example.jp",
        name="運営 太郎",
        role=User.Role.OPERATOR,
        is_staff=True,
        is_superuser=True,
    )
    owner = factories.customer(email="owner@example.jp", name="所有 太郎")
    factories.owned_gateway(owner=owner)
    spare = factories.gateway()
    admin = f"{live_server.url}/admin/"

    page.goto(admin)
    page.locator("#id_username").fill(operator.email)
    page.locator("#id_password").fill(factories.USER_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_contain_text("運営管理")
    shots(page, "index")

    # select all, choose an action, and come back from its confirmation (cancel.js)
    page.goto(admin + "gateways/gateway/")
    page.locator("#action-toggle").check()
    expect(page.locator("#result_list tr.selected")).to_have_count(2)
    page.locator("select[name=action]").select_option("delete_selected")
    page.locator("button[name=index]").click()
    cancel = page.locator("a.cancel-link")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(page).to_have_url(re.compile(r"/admin/gateways/gateway/$"))

    # a change form full of scripted widgets, saved
    page.goto(admin + f"accounts/user/{owner.pk}/change/")
    expect(page.locator("#id_user_permissions_filter")).to_be_visible()  # SelectFilter2.js
    expect(page.locator(".datetimeshortcuts").first).to_be_visible()  # DateTimeShortcuts.js
    shots(page, "user-change")
    page.locator("input[name=_save]").click()
    expect(page.locator("ul.messagelist li.success")).to_be_visible()

    # the raw-id look-up: a pop-up whose choice fills the field in the opener
    page.goto(admin + f"gateways/gateway/{spare.pk}/change/")
    with page.expect_popup() as opened:
        page.locator("#lookup_id_owner").click()
    lookup = opened.value
    with lookup.expect_event("close"):
        lookup.get_by_role("link", name=owner.email).click()
    expect(page.locator("#id_owner")).to_have_value(str(owner.pk))
    shots(page, "gateway-change")
