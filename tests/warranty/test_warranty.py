"""Warranty: the rule as a table of cases (month ends, leap years, missing dates, late
registration, offline 29 / 30 / 31 days), then the same rule read from the database, the
dates form and its audit, access, the offline warning mails and the certificate."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.checks import run_checks
from django.urls import reverse
from django.utils import timezone

from essmon.dealers.models import Dealer, MaintenanceStaff
from essmon.dealers.services.links import link_dealer, unlink_dealer
from essmon.gateways.models import Gateway
from essmon.notifications.models import OutboxMessage
from essmon.telemetry.models import ConnectivityInterval, GatewayLiveState
from essmon.warranty import selectors, services
from essmon.warranty.catalogue import DEFAULT_TERM, term_for
from essmon.warranty.models import DateChange, OfflineWarning, WarrantyDates
from essmon.warranty.rules import (
    JST,
    Connectivity,
    Policy,
    Status,
    add_months,
    evaluate,
    registration_deadline,
    term_end,
)
from tests import factories

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=JST)
POLICY = Policy(lapse_days=30, warn_days=(7, 21))
TERM = term_for("KP-GWBT-A")


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- the calendar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "deadline"),
    [
        ("2022-11-30", "2023-02-28"),  # 30 Nov + 3 months: February has no 30th
        ("2023-11-30", "2024-02-29"),  # ... and in a leap year it ends on the 29th
        ("2023-11-29", "2024-02-29"),
        ("2022-11-28", "2023-02-28"),
        ("2024-08-31", "2024-11-30"),
        ("2024-01-31", "2024-04-30"),
        ("2023-12-31", "2024-03-31"),  # over the year end
        ("2024-03-15", "2024-06-15"),
    ],
)
def test_registration_deadline_is_three_calendar_months(start, deadline):
    assert registration_deadline(d(start)) == d(deadline)


@pytest.mark.parametrize(
    ("start", "years", "last_day"),
    [
        ("2024-03-15", 10, "2034-03-14"),  # the day before the corresponding day
        ("2024-01-01", 15, "2038-12-31"),
        ("2024-02-29", 10, "2034-02-28"),  # no 29 Feb in 2034: the month's last day
        ("2024-02-29", 4, "2028-02-28"),  # 29 Feb exists in 2028: the day before it
        ("2024-03-01", 10, "2034-02-28"),
        ("2023-03-01", 1, "2024-02-29"),
    ],
)
def test_term_end_counts_like_the_civil_code(start, years, last_day):
    assert term_end(d(start), years) == d(last_day)


def test_add_months_goes_backwards_too():
    assert add_months(d("2024-05-31"), -3) == d("2024-02-29")
    assert add_months(d("2024-01-15"), 12) == d("2025-01-15")


# --- the rule: the table of cases --------------------------------------------------------------

ONLINE = "online"  # connected from registration until now


def connectivity(spec, registered: datetime) -> Connectivity:
    """``ONLINE``; ``("gap", start, days)`` a past silence; ``("silent", days)`` offline now;
    ``("never",)``; ``("first", moment)`` first connected then, online since; ``("before",)``
    a long silence before the registration."""
    if spec == ONLINE:
        return Connectivity(first_online=registered, last_seen=NOW)
    kind, *args = spec
    if kind == "gap":
        start, days = args
        return Connectivity(
            first_online=registered, last_seen=NOW, gaps=[(start, start + timedelta(days=days))]
        )
    if kind == "silent":
        return Connectivity(first_online=registered, last_seen=NOW - timedelta(days=args[0]))
    if kind == "first":
        return Connectivity(first_online=args[0], last_seen=NOW)
    if kind == "before":  # connected long before registering, with a 46-day silence then
        return Connectivity(
            first_online=at(d("2023-12-01")),
            last_seen=NOW,
            gaps=[(at(d("2023-12-05")), at(d("2024-01-20")))],
        )
    return Connectivity(first_online=None, last_seen=None)


AUG = datetime(2024, 8, 1, 9, 0, tzinfo=JST)
# left as written (fmt: skip): a table, one case a row (the formatter would spread each
# over nine lines)
CASES = [
    # id, 系統連系日, 受取日, 本登録日, connectivity, expected state, expected end of coverage
    ("30nov-on-28feb", "2022-11-30", "2022-11-30", "2023-02-28", ONLINE, Status.EXTENDED, "2037-11-29"),
    ("30nov-1mar-late", "2022-11-30", "2022-11-30", "2023-03-01", ONLINE, Status.STANDARD, "2032-11-29"),
    ("30nov-leap-29feb", "2023-11-30", "2023-11-30", "2024-02-29", ONLINE, Status.EXTENDED, "2038-11-29"),
    ("30nov-leap-1mar-late", "2023-11-30", "2023-11-30", "2024-03-01", ONLINE, Status.STANDARD, "2033-11-29"),
    ("31aug-on-30nov", "2024-08-31", "2024-08-31", "2024-11-30", ONLINE, Status.EXTENDED, "2039-08-30"),
    ("31aug-1dec-late", "2024-08-31", "2024-08-31", "2024-12-01", ONLINE, Status.STANDARD, "2034-08-30"),
    ("31jan-on-30apr", "2024-01-31", "2024-01-31", "2024-04-30", ONLINE, Status.EXTENDED, "2039-01-30"),
    ("31jan-1may-late", "2024-01-31", "2024-01-31", "2024-05-01", ONLINE, Status.STANDARD, "2034-01-30"),
    ("31dec-on-31mar", "2023-12-31", "2023-12-31", "2024-03-31", ONLINE, Status.EXTENDED, "2038-12-30"),
    ("start-29feb", "2024-02-29", "2024-02-29", "2024-03-10", ONLINE, Status.EXTENDED, "2039-02-28"),
    ("start-29feb-late", "2024-02-29", "2024-02-29", "2024-06-01", ONLINE, Status.STANDARD, "2034-02-28"),
    # either date will do; coverage counts from the earlier one
    ("late-grid-received-in-time", "2024-01-10", "2024-03-01", "2024-05-20", ONLINE, Status.EXTENDED, "2039-01-09"),
    ("late-received-grid-in-time", "2024-03-01", "2024-01-10", "2024-05-31", ONLINE, Status.EXTENDED, "2039-01-09"),
    ("both-late-by-a-day", "2024-03-01", "2024-02-01", "2024-06-02", ONLINE, Status.STANDARD, "2034-01-31"),
    ("registered-before-the-dates", "2024-04-01", "2024-03-20", "2024-03-01", ("first", at(d("2024-04-01"), 10)), Status.EXTENDED, "2039-03-19"),
    # missing dates
    ("both-missing", None, None, "2024-03-01", ONLINE, Status.PENDING, None),
    ("received-missing", "2024-01-10", None, "2024-03-01", ONLINE, Status.PENDING, None),
    ("grid-missing-late-vs-received", None, "2023-01-10", "2024-03-01", ONLINE, Status.PENDING, None),
    ("not-registered", "2024-01-10", "2024-01-10", None, ("never",), Status.PENDING, None),
    # the connection: more than 30 days offline in a row
    ("offline-29-days-past", "2024-01-10", "2024-01-10", "2024-03-01", ("gap", AUG, 29), Status.EXTENDED, "2039-01-09"),
    ("offline-30-days-past", "2024-01-10", "2024-01-10", "2024-03-01", ("gap", AUG, 30), Status.EXTENDED, "2039-01-09"),
    ("offline-31-days-past", "2024-01-10", "2024-01-10", "2024-03-01", ("gap", AUG, 31), Status.LAPSED, "2034-01-09"),
    ("offline-now-6-days", "2024-01-10", "2024-01-10", "2024-03-01", ("silent", 6), Status.EXTENDED, "2039-01-09"),
    ("offline-now-8-days", "2024-01-10", "2024-01-10", "2024-03-01", ("silent", 8), Status.AT_RISK, "2039-01-09"),
    ("offline-now-29-days", "2024-01-10", "2024-01-10", "2024-03-01", ("silent", 29), Status.AT_RISK, "2039-01-09"),
    ("offline-now-31-days", "2024-01-10", "2024-01-10", "2024-03-01", ("silent", 31), Status.LAPSED, "2034-01-09"),
    ("offline-now-8-days-dates-missing", None, None, "2024-03-01", ("silent", 8), Status.AT_RISK, None),
    ("late-and-offline-stays-standard", "2023-01-10", "2023-01-10", "2024-03-01", ("silent", 40), Status.STANDARD, "2033-01-09"),
    ("never-connected-40-days", "2025-03-01", "2025-03-01", "2025-04-22", ("never",), Status.LAPSED, "2035-02-28"),
    # the duty to stay connected starts at the grid connection, not at an earlier registration
    ("registered-early-connected-at-grid-day", "2024-03-01", "2024-01-10", "2024-01-15", ("first", at(d("2024-03-01"), 9)), Status.EXTENDED, "2039-01-09"),
    ("registered-early-grid-date-missing", None, "2024-01-10", "2024-01-15", ("first", at(d("2024-03-01"), 9)), Status.LAPSED, None),
    ("gap-before-registration-ignored", "2024-01-10", "2024-01-10", "2024-03-01", ("before",), Status.EXTENDED, "2039-01-09"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("grid", "received", "registered", "online", "status", "end"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_rule(grid, received, registered, online, status, end):
    registered_at = at(d(registered), 10) if registered else None
    state = evaluate(
        grid_connection_date=d(grid) if grid else None,
        received_date=d(received) if received else None,
        registered_at=registered_at,
        term=TERM,
        connectivity=connectivity(online, registered_at or NOW),
        now=NOW,
        policy=POLICY,
    )
    assert state.status == status, state.reason
    assert state.coverage_end == (d(end) if end else None)
    assert state.can_certify == (end is not None)
    assert state.reason  # every state says why, in words


def _state(**overrides):
    args = dict(
        grid_connection_date=d("2024-01-10"),
        received_date=d("2024-01-10"),
        registered_at=at(d("2024-03-01")),
        term=TERM,
        connectivity=Connectivity(first_online=at(d("2024-03-01")), last_seen=NOW),
        now=NOW,
        policy=POLICY,
    )
    args.update(overrides)
    return evaluate(**args)


def test_reasons_say_why_in_plain_japanese():
    extended = _state()
    assert "系統連系日(2024年1月10日)から3か月以内" in extended.reason
    assert "15年に延長" in extended.reason
    late = _state(registered_at=at(d("2024-04-11")))
    assert late.status == Status.STANDARD
    assert "2024年4月10日まで" in late.reason and "標準の10年" in late.reason
    silent = Connectivity(first_online=at(d("2024-03-01")), last_seen=NOW - timedelta(days=8))
    risk = _state(connectivity=silent)
    assert risk.lapses_at == NOW - timedelta(days=8) + timedelta(days=30)
    assert "8日" in risk.reason and "2025年6月23日 12:00までに接続が戻らないと" in risk.reason
    assert risk.standard_end == d("2034-01-09") and "2034年1月9日まで" in risk.reason
    pending = _state(received_date=None)
    assert "受取日が入力されていない" in pending.reason and "延長されます" in pending.reason
    gone = Connectivity(
        first_online=at(d("2024-03-01")), last_seen=NOW, gaps=[(AUG, AUG + timedelta(days=31))]
    )
    lapsed = _state(connectivity=gone)
    assert lapsed.lapsed_at == AUG + timedelta(days=30)
    assert "2024年8月31日 09:00に失効" in lapsed.reason


def test_registration_date_is_the_japanese_day():
    # 15:30 UTC on 28 Feb is 00:30 on 1 Mar in Tokyo: one day too late for 30 Nov
    registered = datetime(2023, 2, 28, 15, 30, tzinfo=UTC)
    state = _state(
        grid_connection_date=d("2022-11-30"),
        received_date=d("2022-11-30"),
        registered_at=registered,
    )
    assert state.registered_on == d("2023-03-01")
    assert state.status == Status.STANDARD


def test_the_catalogue_has_a_default_for_unknown_models():
    assert term_for("KP-GWBT-C").extended_years == 15
    assert term_for("XX-UNKNOWN") == DEFAULT_TERM
    assert (DEFAULT_TERM.standard_years, DEFAULT_TERM.extended_years) == (10, 15)


# --- the rule over the database ------------------------------------------------------------------


def registered_gateway(
    *, registered: datetime, grid="2024-01-10", received="2024-01-10", owner=None
):
    gateway = factories.owned_gateway(owner=owner)
    Gateway.objects.filter(pk=gateway.pk).update(claimed_at=registered)
    gateway.refresh_from_db()
    if grid or received:
        WarrantyDates.objects.create(
            gateway=gateway,
            grid_connection_date=d(grid) if grid else None,
            received_date=d(received) if received else None,
        )
    return gateway


def history(gateway, *spans: tuple[datetime, datetime | None], last_seen: datetime) -> None:
    for start, end in spans:
        ConnectivityInterval.objects.create(gateway=gateway, online_from=start, online_until=end)
    GatewayLiveState.objects.create(gateway=gateway, last_seen_at=last_seen)


@pytest.mark.django_db
@pytest.mark.parametrize(("gap_days", "status"), [(29, Status.EXTENDED), (31, Status.LAPSED)])
def test_gaps_are_read_from_the_connectivity_history(gap_days, status):
    registered = at(d("2024-03-01"))
    gateway = registered_gateway(registered=registered)
    back = AUG + timedelta(days=gap_days)
    history(
        gateway,
        (registered, at(d("2024-05-01"))),  # a short outage: 2 hours
        (at(d("2024-05-01"), 14), AUG),
        (back, None),
        last_seen=NOW,
    )
    state = selectors.state_of(gateway, now=NOW)
    assert state.status == status
    assert state.longest_offline.length(NOW) == timedelta(days=gap_days)
    # the fleet's reading (long gaps only) agrees
    assert selectors.states_for([gateway], now=NOW)[gateway.pk].status == status


@pytest.mark.django_db
def test_fleet_at_risk_and_labels_in_a_few_queries(django_assert_max_num_queries):
    registered = at(d("2024-03-01"))
    fine = registered_gateway(registered=registered)
    history(fine, (registered, None), last_seen=NOW)
    risky = registered_gateway(registered=registered)
    history(risky, (registered, NOW - timedelta(days=8)), last_seen=NOW - timedelta(days=8))
    lapsed = registered_gateway(registered=registered)
    history(lapsed, (registered, NOW - timedelta(days=40)), last_seen=NOW - timedelta(days=40))
    late = registered_gateway(registered=registered, grid="2023-01-01", received="2023-01-01")
    history(late, (registered, NOW - timedelta(days=8)), last_seen=NOW - timedelta(days=8))
    never = registered_gateway(registered=NOW - timedelta(days=10), grid=None, received=None)
    every = Gateway.objects.all()
    # reads: gateways with dates, silences, recorded lapses; the first sight of a lapse
    # also writes it (one insert, then a savepoint pair around it on some backends)
    with django_assert_max_num_queries(7):
        assert selectors.at_risk_ids(every, now=NOW) == {risky.pk, never.pk}
    with django_assert_max_num_queries(4):
        states = selectors.states_for(every, now=NOW)
    assert {pk: s.status for pk, s in states.items()} == {
        fine.pk: Status.EXTENDED,
        risky.pk: Status.AT_RISK,
        lapsed.pk: Status.LAPSED,
        late.pk: Status.STANDARD,
        never.pk: Status.AT_RISK,
    }
    assert states[fine.pk].column_text == "延長保証(2039/01/09まで)"
    assert states[never.pk].column_text == "延長保証 失効のおそれ"


# --- the dates form, its audit, and access ------------------------------------------------------


@pytest.fixture
def world():
    owner = factories.customer(email="hanako@example.jp", name="御室 花子")
    gateway = registered_gateway(
        registered=at(d("2024-03-01")), grid=None, received=None, owner=owner
    )
    # online since its registration
    history(gateway, (at(d("2024-03-01")), None), last_seen=timezone.now())
    linked = factories.dealer(company="洛南電設", email="ichiro@rakunan.example.jp")
    link_dealer(customer=owner, gateway=gateway, dealer=linked)
    return {"owner": owner, "gateway": gateway, "linked": linked}


def page_url(gateway, name="monitoring:warranty"):
    return reverse(name, kwargs={"gateway_id": gateway.gateway_id})


@pytest.mark.django_db
def test_owner_enters_dates_and_sees_the_state(client, world):
    gateway = world["gateway"]
    client.force_login(world["owner"])
    page = client.get(page_url(gateway)).content.decode()
    assert "未確定" in page and "系統連系日と受取日が入力されていない" in page
    assert 'aria-current="page">保証</a>' in page
    response = client.post(
        page_url(gateway), {"grid_connection_date": "2024-01-10", "received_date": "2024/1/5"}
    )
    assert response.status_code == 302
    page = client.get(page_url(gateway)).content.decode()
    assert "延長保証" in page and "2039年1月4日" in page and "保証書を表示・印刷する" in page
    assert "日付を保存しました" in page
    rows = list(DateChange.objects.order_by("field"))
    assert [(r.field, r.before, r.after) for r in rows] == [
        ("grid_connection_date", None, d("2024-01-10")),
        ("received_date", None, d("2024-01-05")),
    ]
    assert all(r.changed_as == "お客様(御室 花子)" and r.dealer is None for r in rows)


@pytest.mark.django_db
def test_a_linked_dealer_changes_a_date_and_the_audit_says_which_dealer(client, world):
    gateway = world["gateway"]
    services.change_dates(
        gateway=gateway,
        user=world["owner"],
        grid_connection_date=d("2024-01-10"),
        received_date=None,
    )
    client.force_login(world["linked"].user)
    response = client.post(
        page_url(gateway), {"grid_connection_date": "2024-01-12", "received_date": ""}
    )
    assert response.status_code == 302
    change = DateChange.objects.first()
    assert (change.before, change.after) == (d("2024-01-10"), d("2024-01-12"))
    assert change.dealer == world["linked"] and change.changed_as.startswith("販売店 洛南電設")
    page = client.get(page_url(gateway)).content.decode()
    assert "販売店 洛南電設" in page and "お客様(御室 花子)" in page
    # saving the same dates again records nothing
    client.post(page_url(gateway), {"grid_connection_date": "2024-01-12", "received_date": ""})
    assert DateChange.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("grid_connection_date", "2099-01-01", "系統連系日に未来の日付は入力できません。"),
        ("received_date", "1999-12-31", "受取日は2000年1月1日以降の日付を入力してください。"),
        (
            "received_date",
            "きのう",
            "日付は「2024-03-15」または「2024/3/15」の形で入力してください。",
        ),
        ("grid_connection_date", "2023-02-30", "その日付は存在しません。"),
    ],
)
def test_form_refuses_bad_dates_next_to_the_field_and_keeps_the_input(
    client, world, field, value, message
):
    client.force_login(world["owner"])
    other = "received_date" if field == "grid_connection_date" else "grid_connection_date"
    response = client.post(page_url(world["gateway"]), {field: value, other: "2024-01-10"})
    assert response.status_code == 400
    page = response.content.decode()
    # next to its field, which names it (aria-describedby), and once in the error summary
    assert f'<div class="error" id="id_{field}_error"><p>{message}</p></div>' in page
    tag = re.search(rf'<input[^>]*id="id_{field}"[^>]*>', page).group(0)
    assert f"id_{field}_error" in tag and 'aria-invalid="true"' in tag
    assert page.count('role="alert"') == 1
    assert f'value="{value}"' in page and 'value="2024-01-10"' in page
    assert not DateChange.objects.exists()


@pytest.mark.django_db
def test_full_width_digits_are_accepted(client, world):
    client.force_login(world["owner"])
    client.post(page_url(world["gateway"]), {"grid_connection_date": "２０２４年１月１０日"})
    assert WarrantyDates.objects.get().grid_connection_date == d("2024-01-10")


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["monitoring:warranty", "monitoring:warranty_certificate"])
def test_access(client, world, name):
    gateway = world["gateway"]
    services.change_dates(
        gateway=gateway,
        user=world["owner"],
        grid_connection_date=d("2024-01-10"),
        received_date=d("2024-01-10"),
    )
    url = page_url(gateway, name)
    assert client.get(url).url.startswith(reverse("monitoring:login"))
    for user in (world["owner"], world["linked"].user):
        client.force_login(user)
        assert client.get(url).status_code == 200
    strangers = [factories.dealer().user, factories.customer()]
    after_unlink = factories.dealer()
    link_dealer(customer=world["owner"], gateway=gateway, dealer=after_unlink)
    unlink_dealer(customer=world["owner"], gateway=gateway, dealer=after_unlink)
    for user in (*strangers, after_unlink.user):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"grid_connection_date": "2024-01-01"}).status_code in (404, 405)
    assert WarrantyDates.objects.get().grid_connection_date == d("2024-01-10")


@pytest.mark.django_db
def test_operator_sees_the_page_without_the_form(client, world):
    from essmon.accounts.models import User

    operator = factories.customer(role=User.Role.OPERATOR, is_staff=True, is_superuser=True)
    client.force_login(operator)
    page = client.get(page_url(world["gateway"])).content.decode()
    assert "日付を保存する" not in page and "お客様または保守を任された販売店様が入力します" in page
    assert client.post(page_url(world["gateway"]), {}).status_code == 405


# --- the certificate ----------------------------------------------------------------------


@pytest.mark.django_db
def test_certificate_pdf(client, world):
    gateway = world["gateway"]
    client.force_login(world["owner"])
    # no end date yet: not issued, and the page says why
    response = client.get(page_url(gateway, "monitoring:warranty_certificate"), follow=True)
    assert response.redirect_chain[-1][0] == page_url(gateway)
    assert "保証書はまだ発行できません" in response.content.decode()
    services.change_dates(
        gateway=gateway,
        user=world["owner"],
        grid_connection_date=d("2024-01-10"),
        received_date=d("2024-01-10"),
    )
    response = client.get(page_url(gateway, "monitoring:warranty_certificate"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert gateway.gateway_id.encode() in response.content
    assert b"HeiseiKakuGo-W5" in response.content  # the built-in Japanese font, no file
    # kept for a person to look at, beside the browser tests' screenshots
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "warranty-certificate.pdf").write_bytes(response.content)


# --- the offline warnings ------------------------------------------------------------------------


@pytest.fixture
def silent_world(world):
    """The world's gateway, extended, silent since ``world['since']``; the linked dealer has a
    second, unconfirmed staff member (never mailed) and an unlinked dealer exists."""
    gateway = world["gateway"]
    WarrantyDates.objects.create(
        gateway=gateway, grid_connection_date=d("2024-01-10"), received_date=d("2024-01-10")
    )
    last = at(d("2025-05-01"))
    ConnectivityInterval.objects.filter(gateway=gateway).update(online_until=last)
    GatewayLiveState.objects.filter(gateway=gateway).update(last_seen_at=last)
    MaintenanceStaff.objects.create(dealer=world["linked"], name="未確認", email="new@rakunan.jp")
    factories.dealer(email="other@example.jp")
    world["last"] = last
    return world


def sent(kind=None):
    messages = OutboxMessage.objects.filter(kind__startswith="warranty_").order_by("pk")
    return [(m.kind, m.recipient) for m in messages if kind is None or m.kind == kind]


@pytest.mark.django_db
def test_offline_warnings_at_7_and_21_days_once_each(
    silent_world, django_capture_on_commit_callbacks
):
    last = silent_world["last"]
    assert services.check_warranties(now=last + timedelta(days=6, hours=23)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.check_warranties(now=last + timedelta(days=7, hours=1)) == 1
    assert sent() == [
        ("warranty_offline_customer", "hanako@example.jp"),
        ("warranty_offline_dealer", "ichiro@rakunan.example.jp"),
    ]
    customer_mail = next(m for m in mail.outbox if m.to == ["hanako@example.jp"])
    assert "7日間オフライン" in customer_mail.subject
    assert "2025年5月31日 12:00までに接続が戻らないと延長保証は失効" in customer_mail.body
    assert f"/monitoring/{silent_world['gateway'].gateway_id}/warranty/" in customer_mail.body
    # reruns and restarts send nothing more
    assert services.check_warranties(now=last + timedelta(days=7, hours=2)) == 0
    assert services.check_warranties(now=last + timedelta(days=20)) == 0
    assert services.check_warranties(now=last + timedelta(days=21, hours=1)) == 1
    assert services.check_warranties(now=last + timedelta(days=22)) == 0
    subjects = list(
        OutboxMessage.objects.filter(kind__startswith="warranty_")
        .order_by("pk")
        .values_list("subject", flat=True)
    )
    assert ["21日間オフライン" in s for s in subjects] == [False, False, True, True]
    assert OfflineWarning.objects.count() == 2
    # past the lapse there is nothing left to warn about
    assert services.check_warranties(now=last + timedelta(days=31)) == 0
    assert len(sent()) == 4


@pytest.mark.django_db
def test_a_new_offline_stretch_is_warned_again(silent_world):
    gateway, last = silent_world["gateway"], silent_world["last"]
    assert services.check_warranties(now=last + timedelta(days=8)) == 1
    back = last + timedelta(days=10)
    ConnectivityInterval.objects.create(
        gateway=gateway, online_from=back, online_until=back + timedelta(hours=5)
    )
    GatewayLiveState.objects.filter(gateway=gateway).update(last_seen_at=back + timedelta(hours=5))
    assert services.check_warranties(now=back + timedelta(days=3)) == 0
    assert services.check_warranties(now=back + timedelta(days=8)) == 1
    assert len(sent("warranty_offline_customer")) == 2


@pytest.mark.django_db
def test_only_the_latest_threshold_when_the_job_was_stopped(silent_world):
    last = silent_world["last"]
    assert services.check_warranties(now=last + timedelta(days=22)) == 1
    assert services.check_warranties(now=last + timedelta(days=23)) == 0
    assert list(OfflineWarning.objects.values_list("days", flat=True)) == [21]


@pytest.mark.django_db
def test_no_warning_without_an_extension_to_lose(world):
    late = registered_gateway(
        registered=at(d("2024-03-01")), grid="2023-01-01", received="2023-01-01"
    )
    history(late, (at(d("2024-03-01")), at(d("2025-05-01"))), last_seen=at(d("2025-05-01")))
    assert services.check_warranties(now=at(d("2025-05-10"))) == 0


@pytest.mark.django_db
def test_one_failing_gateway_does_not_stop_the_others(silent_world, monkeypatch):
    other = registered_gateway(registered=at(d("2024-03-01")))
    history(other, (at(d("2024-03-01")), silent_world["last"]), last_seen=silent_world["last"])
    real = services._mail_warning

    def flaky(gateway, *args, **kwargs):
        if gateway.pk == silent_world["gateway"].pk:
            raise RuntimeError("template broken")
        return real(gateway, *args, **kwargs)

    monkeypatch.setattr(services, "_mail_warning", flaky)
    assert services.check_warranties(now=silent_world["last"] + timedelta(days=8)) == 1
    # the failed one left no record, so it is tried again on the next run
    assert list(OfflineWarning.objects.values_list("gateway", flat=True)) == [other.pk]
    monkeypatch.setattr(services, "_mail_warning", real)
    assert services.check_warranties(now=silent_world["last"] + timedelta(days=8, hours=1)) == 1


def test_settings_are_checked(settings):
    settings.WARRANTY_WARN_DAYS = "7,30"
    assert [e.id for e in run_checks() if e.id.startswith("warranty.")] == ["warranty.E003"]
    settings.WARRANTY_WARN_DAYS = "a week"
    assert [e.id for e in run_checks() if e.id.startswith("warranty.")] == ["warranty.E001"]
    settings.WARRANTY_WARN_DAYS = ""
    assert [e.id for e in run_checks() if e.id.startswith("warranty.")] == []
    assert selectors.current_policy().warn_days == ()


@pytest.mark.django_db
def test_a_lapse_stands_once_seen_whatever_dates_are_entered_later():
    """Registered in time, 45 days offline: lapsed. Entering a later 系統連系日 moves the
    start of the connection duty past the silence, but the lapse was recorded before the
    dates changed and stands (only an operator deleting it in the admin undoes it)."""
    from essmon.warranty.models import RecordedLapse

    registered = at(d("2024-03-01"))
    gateway = registered_gateway(registered=registered)
    history(gateway, (registered, at(d("2024-08-01"))), (at(d("2024-09-15")), None), last_seen=NOW)
    assert selectors.state_of(gateway, now=NOW).status == Status.LAPSED
    RecordedLapse.objects.all().delete()  # not yet seen by anyone: the save itself records it
    services.change_dates(
        gateway=gateway,
        user=gateway.owner,
        grid_connection_date=d("2024-10-01"),
        received_date=d("2024-01-10"),
    )
    state = selectors.state_of(gateway, now=NOW)
    assert state.status == Status.LAPSED and state.coverage_end == d("2034-01-09")
    assert RecordedLapse.objects.get().lapsed_at == at(d("2024-08-01")) + timedelta(days=30)


@pytest.mark.django_db
def test_warnings_skip_closed_accounts_and_suspended_dealers(silent_world):
    world = silent_world
    world["owner"].is_active = False
    world["owner"].save()
    for dealer in Dealer.objects.all():
        dealer.user.is_active = False
        dealer.user.save()
    services.check_warranties(now=world["last"] + timedelta(days=8))
    assert not OutboxMessage.objects.filter(kind__startswith="warranty_").exists()


@pytest.mark.django_db
def test_certificate_with_characters_past_the_font_and_a_long_address(client, world):
    gateway, owner = world["gateway"], world["owner"]
    owner.name = "𠮷野 太郎😀"
    owner.save()
    # the longest name and address the fields hold
    gateway.site.name = "嵯峨野" * 33 + "邸"
    gateway.site.address_rest = ("京都市下京区" + "東塩小路町" * 40)[:200]
    gateway.site.save()
    services.change_dates(
        gateway=gateway,
        user=owner,
        grid_connection_date=d("2024-01-10"),
        received_date=d("2024-01-10"),
    )
    client.force_login(owner)
    response = client.get(page_url(gateway, "monitoring:warranty_certificate"))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
