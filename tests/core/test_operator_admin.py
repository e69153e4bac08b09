"""Operators work in Django's admin: search and filters, and every change there is logged."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client):
    from essmon.accounts.models import User

    op = User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営")
    client.force_login(op)
    return op


@pytest.mark.parametrize(
    "model",
    [
        "accounts_user",
        "gateways_gateway",
        "gateways_site",
        "dealers_dealer",
        "dealers_dealerlink",
        "dealers_provisionrecord",
        "dealers_dealeraccess",
        "telemetry_counterdiscontinuity",
        "notifications_outboxmessage",
        "admin_logentry",
    ],
)
def test_changelists_search_and_filter(client, operator, model):
    factories.owned_gateway()
    factories.dealer()
    url = reverse(f"admin:{model}_changelist")
    assert client.get(url).status_code == 200
    assert client.get(url, {"q": "01AB"}).status_code == 200


def test_a_change_in_the_admin_is_logged(client, operator):
    dealer = factories.dealer(company="旧社名")
    url = reverse("admin:dealers_dealer_change", args=[dealer.pk])
    form = {
        "user": dealer.user.pk,
        "company_name": "新社名",
        "branch": "",
        "created_at_0": "2026-11-24",
        "created_at_1": "10:00:00",
        "staff-TOTAL_FORMS": "1",
        "staff-INITIAL_FORMS": "1",
        "staff-MIN_NUM_FORMS": "0",
        "staff-MAX_NUM_FORMS": "1000",
        "staff-0-id": dealer.staff.get().pk,
        "staff-0-dealer": dealer.pk,
        "staff-0-name": dealer.staff.get().name,
        "staff-0-email": dealer.staff.get().email,
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = LogEntry.objects.get(object_id=str(dealer.pk), action_flag=CHANGE)
    assert entry.user == operator
    assert "販売店名" in entry.get_change_message()
    log_page = client.get(
        reverse("admin:admin_logentry_changelist"), {"q": "新社名"}
    ).content.decode()
    assert "新社名" in log_page


def test_account_tokens_cannot_be_made_in_the_admin(client, operator):
    """Tokens come only from the flows that mail them; the add form used to be a 500."""
    url = reverse("admin:accounts_accounttoken_add")
    assert client.get(url).status_code == 403
    assert client.post(url, {}).status_code == 403
    changelist = client.get(reverse("admin:accounts_accounttoken_changelist"))
    assert changelist.status_code == 200 and url not in changelist.content.decode()
