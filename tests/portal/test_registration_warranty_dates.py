"""issue 12 §4: 系統連系日 and 受取日 asked at registration (optional, validated, stored where
the warranty reads them), and the main menu's prompt until both are entered, with the
deadline of the 15-year warranty or what applies once it has passed."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import TermsVersion
from essmon.accounts.services.expiry import release_expired_registrations
from essmon.core.jst import JST
from essmon.gateways.models import Gateway
from essmon.warranty import selectors as warranty_selectors
from essmon.warranty.models import DateChange, WarrantyDates
from essmon.warranty.rules import earliest_date_in_time
from tests import factories

pytestmark = pytest.mark.django_db

# "today" in these tests: 2026-12-04 10:00 JST
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=JST)


@pytest.fixture(autouse=True)
def frozen():
    # the terms of use are published by a migration, at the real time of the test run
    TermsVersion.objects.update(effective_at=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        yield


def entry(client, gateway, **overrides):
    client.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gateway.gateway_id, **overrides}
    return client.post(reverse("accounts:entry_form"), data)


# --- at registration (お客様情報の登録) ------------------------------------------------


def test_the_form_asks_for_both_dates_optionally_and_says_why(client):
    client.post(reverse("accounts:entry_terms"))
    page = client.get(reverse("accounts:entry_form")).content.decode()
    assert '<label for="id_grid_connection_date">系統連系日<span class="opt">任意</span>' in page
    assert '<label for="id_received_date">受取日<span class="opt">任意</span>' in page
    assert "3か月以内" in page and "15年間になります" in page
    assert 'max="2026-12-04"' in page and 'min="2000-01-01"' in page


def test_dates_typed_at_registration_are_stored_and_recorded_as_the_customers(client):
    gw = factories.gateway()
    response = entry(client, gw, grid_connection_date="2026/11/20", received_date="2026年11月1日")
    assert response.status_code == 302
    confirm = client.get(reverse("accounts:entry_confirm")).content.decode()
    assert "2026年11月20日" in confirm and "2026年11月1日" in confirm
    # the later deadline of the two: 20 Feb; 本登録 is the password set from the mail
    assert "15年保証の期限は2027年2月20日(系統連系日から3か月)です" in confirm
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    dates = WarrantyDates.objects.get(gateway=gw)
    assert (dates.grid_connection_date, dates.received_date) == (
        date(2026, 11, 20),
        date(2026, 11, 1),
    )
    changes = DateChange.objects.filter(gateway=gw)
    assert changes.count() == 2 and {c.changed_as for c in changes} == {"お客様(御室 花子)"}
    # once registered, the warranty reads them: in time for both, 15 years from 1 Nov
    Gateway.objects.filter(pk=gw.pk).update(state=Gateway.State.CLAIMED, claimed_at=timezone.now())
    state = warranty_selectors.state_of(Gateway.objects.get(pk=gw.pk))
    assert state.coverage_start == date(2026, 11, 1) and state.eligible is True


def test_the_dates_are_optional(client):
    gw = factories.gateway()
    assert entry(client, gw).status_code == 302
    confirm = client.get(reverse("accounts:entry_confirm")).content.decode()
    assert "未入力" in confirm and "15年保証の期限はまだわかりません" in confirm
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert Gateway.objects.get(pk=gw.pk).state == Gateway.State.HELD
    assert not WarrantyDates.objects.filter(gateway=gw).exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("grid_connection_date", "2026-12-05", "系統連系日に未来の日付は入力できません。"),
        ("received_date", "1999-12-31", "受取日は2000年1月1日以降の日付を入力してください。"),
        ("received_date", "2026-02-30", "その日付は存在しません。"),
        ("grid_connection_date", "来週", "日付は「2024-03-15」または「2024/3/15」の形で"),
    ],
)
def test_bad_dates_are_refused_next_to_the_field(client, field, value, message):
    gw = factories.gateway()
    response = entry(client, gw, **{field: value})
    assert response.status_code == 200  # the form again, not the confirmation
    page = response.content.decode()
    assert message in page and f'value="{value}"' in page
    assert not WarrantyDates.objects.exists()


def test_a_deadline_already_passed_says_what_applies_instead(client):
    gw = factories.gateway()
    entry(client, gw, received_date="2026-08-01")
    confirm = client.get(reverse("accounts:entry_confirm")).content.decode()
    assert "受取日から3か月の期限(2026年11月1日まで)は過ぎています" in confirm
    assert "系統連系日から3か月以内の登録であれば15年保証の対象です" in confirm
    assert "保証期間は標準の10年です" in confirm


def test_an_address_with_an_account_gets_no_dates_attached(client):
    factories.customer(email="hanako@example.jp")
    gw = factories.gateway()
    entry(client, gw, grid_connection_date="2026-11-20")
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert Gateway.objects.get(pk=gw.pk).state == Gateway.State.HELD  # reserved, no owner
    assert not WarrantyDates.objects.exists() and not DateChange.objects.exists()


def test_a_registration_given_up_leaves_no_dates_for_the_next_owner(client, settings):
    gw = factories.gateway()
    entry(client, gw, grid_connection_date="2026-11-20")
    client.post(reverse("accounts:entry_confirm"), {"register": "1"})
    assert WarrantyDates.objects.filter(gateway=gw).exists()
    later = NOW + timedelta(days=settings.ACTIVATION_DAYS, minutes=1)
    with time_machine.travel(later, tick=False):
        assert release_expired_registrations() == 1
    assert Gateway.objects.get(pk=gw.pk).state == Gateway.State.UNCLAIMED
    assert not WarrantyDates.objects.exists() and not DateChange.objects.exists()


# --- ゲートウェイの登録 (a second gateway) -----------------------------------------------


def test_a_second_gateway_takes_its_dates_at_the_site_step(client):
    user = factories.customer()
    client.force_login(user)
    gw = factories.gateway()
    client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    site = {
        "site_name": "別荘",
        "site_postal_code": "100-0001",
        "site_prefecture": "東京都",
        "site_city": "千代田区",
        "site_address_rest": "千代田1-1",
    }
    page = client.get(reverse("accounts:gateway_add_site")).content.decode()
    assert "系統連系日" in page and "受取日" in page and "任意" in page
    bad = client.post(reverse("accounts:gateway_add_site"), {**site, "received_date": "2027-1-1"})
    assert "受取日に未来の日付は入力できません。" in bad.content.decode()
    response = client.post(
        reverse("accounts:gateway_add_site"), {**site, "grid_connection_date": "2026-10-10"}
    )
    assert response.url == reverse("accounts:gateway_add_confirm")
    confirm = client.get(reverse("accounts:gateway_add_confirm")).content.decode()
    assert "2026年10月10日" in confirm and "未入力" in confirm
    assert "系統連系日(2026年10月10日)から3か月以内(2027年1月10日まで)の登録となるため" in confirm
    client.post(reverse("accounts:gateway_add_confirm"), {"register": "1"})
    gw.refresh_from_db()
    assert gw.state == Gateway.State.CLAIMED
    assert WarrantyDates.objects.get(gateway=gw).grid_connection_date == date(2026, 10, 10)
    state = warranty_selectors.state_of(gw)
    assert state.eligible is True and state.status == "pending"  # 受取日 still missing


# --- the main menu's prompt --------------------------------------------------------------


def registered(owner, *, on: date, grid=None, received=None, name="御室邸") -> Gateway:
    gw = factories.owned_gateway(owner=owner, site_name=name)
    gw.claimed_at = datetime(on.year, on.month, on.day, 12, tzinfo=JST)
    gw.save(update_fields=["claimed_at"])
    if grid or received:
        WarrantyDates.objects.create(gateway=gw, grid_connection_date=grid, received_date=received)
    return gw


def menu(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("accounts:menu")).content.decode()


def test_the_menu_asks_until_both_dates_are_entered(client):
    user = factories.customer()
    gw = registered(user, on=date(2026, 11, 30))
    page = menu(client, user)
    assert "系統連系日・受取日を入力してください" in page
    warranty_url = reverse("monitoring:warranty", kwargs={"gateway_id": gw.gateway_id})
    assert f'href="{warranty_url}#dates-heading">系統連系日・受取日を入力する</a>' in page
    # no date yet: which dates would still make the registration (30 Nov) in time
    assert "系統連系日か受取日が 2026年8月30日 以降" in page.replace(
        '<strong data-testid="dates-prompt-earliest">', ""
    ).replace("</strong>", "")
    assert "未入力: 系統連系日・受取日" in page

    WarrantyDates.objects.create(gateway=gw, grid_connection_date=date(2026, 10, 1))
    page = menu(client, user)
    assert "15年保証の登録期限(系統連系日から3か月)" in page and "2027年1月1日" in page
    assert "接続が続けば保証期間は15年です" in page and "未入力: 受取日" in page

    WarrantyDates.objects.filter(gateway=gw).update(received_date=date(2026, 10, 5))
    page = menu(client, user)
    assert "系統連系日・受取日を入力してください" not in page


def test_after_the_deadline_the_menu_says_what_applies_instead(client):
    user = factories.customer()
    registered(user, on=date(2026, 11, 30), received=date(2026, 6, 1))
    page = menu(client, user)
    assert "2026年9月1日" in page and "(過ぎています)" in page
    assert (
        "受取日(2026年6月1日)から3か月の期限(2026年9月1日まで)は、本登録日(2026年11月30日)より前に過ぎています"
        in page
    )
    assert "系統連系日が2026年8月30日以降であれば15年保証の対象です" in page
    assert "そうでない場合、保証期間は標準の10年です" in page


def test_the_menu_does_not_ask_about_gateways_not_registered_or_complete(client):
    user = factories.customer()
    registered(user, on=date(2026, 11, 30), grid=date(2026, 11, 1), received=date(2026, 11, 2))
    factories.gateway(state="held", owner=user)
    assert "系統連系日・受取日を入力してください" not in menu(client, user)


@pytest.mark.parametrize(
    "registered_on, earliest",
    [
        (date(2026, 11, 30), date(2026, 8, 30)),
        (date(2024, 2, 29), date(2023, 11, 29)),  # 30 Nov + 3 months is 29 Feb too
        (date(2023, 2, 28), date(2022, 11, 28)),  # 30 Nov → 28 Feb: 28 Nov is the earliest
        (date(2024, 11, 30), date(2024, 8, 30)),  # 31 Aug → 30 Nov, 30 Aug too
        (date(2024, 4, 30), date(2024, 1, 30)),
    ],
)
def test_earliest_date_in_time_is_the_inverse_of_the_deadline(registered_on, earliest):
    from essmon.warranty.rules import registration_deadline

    assert earliest_date_in_time(registered_on) == earliest
    assert registration_deadline(earliest) >= registered_on
    assert registration_deadline(earliest - timedelta(days=1)) < registered_on
