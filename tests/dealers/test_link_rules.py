"""保守紐付け rules at the service level: the pair check and its limit, five per gateway
(also when links race), duplicates, consent and provision records, unlinking."""

import threading

import pytest
from django.core import mail
from django.db import connection

from essmon.dealers import access, services
from essmon.dealers.models import DealerLink, MaintenanceStaff, ProvisionRecord
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def gw():
    return factories.owned_gateway()


def test_pair_check_gives_one_message_for_any_mismatch(gw):
    dealer = factories.dealer(code="D1234567", phone="+81751112222")
    for code, phone in [("D7654321", "075-111-2222"), ("D1234567", "075-999-9999"), ("x", "y")]:
        with pytest.raises(services.DealerError) as err:
            services.find_dealer(customer=gw.owner, dealer_code=code, phone=phone)
        assert err.value.message == services.WRONG_PAIR
    found = services.find_dealer(
        customer=gw.owner, dealer_code="d1234567", phone="０７５-１１１-２２２２"
    )
    assert found == dealer


def test_ten_wrong_pairs_an_hour_pause_the_customer(gw):
    dealer = factories.dealer(code="D1234567")
    for _ in range(10):
        with pytest.raises(services.DealerError):
            services.find_dealer(customer=gw.owner, dealer_code="D0000000", phone="0751112222")
    with pytest.raises(services.DealerError) as err:
        services.find_dealer(customer=gw.owner, dealer_code=dealer.dealer_code, phone="0751112222")
    assert err.value.message == services.TOO_MANY_PAIRS
    other_customer = factories.customer()
    assert services.find_dealer(customer=other_customer, dealer_code="D1234567", phone="0751112222")


def test_inactive_dealer_cannot_be_found(gw):
    dealer = factories.dealer(code="D1234567", is_active=False)
    with pytest.raises(services.DealerError):
        services.find_dealer(customer=gw.owner, dealer_code=dealer.dealer_code, phone="0751112222")


def test_link_records_consent_and_mails_dealer_and_confirmed_staff(
    gw, django_capture_on_commit_callbacks
):
    dealer = factories.dealer()
    MaintenanceStaff.objects.create(dealer=dealer, name="未確認", email="pending@example.jp")
    MaintenanceStaff.objects.create(
        dealer=dealer,
        name="確認済",
        email="staff@example.jp",
        confirmed_at=gw.claimed_at or gw.provisioned_at,
    )
    with django_capture_on_commit_callbacks(execute=True):
        link = services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    record = ProvisionRecord.objects.get(link=link)
    assert record.customer == gw.owner and record.dealer == dealer
    assert record.gateway_code == gw.gateway_id and record.customer_name == gw.owner.name
    assert "電話番号" in record.data_items and record.consent_text == services.CONSENT_TEXT
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted([dealer.user.email, "staff@example.jp"])
    assert "pending@example.jp" not in recipients


def test_same_dealer_twice_is_refused(gw):
    dealer = factories.dealer()
    services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    with pytest.raises(services.DealerError) as err:
        services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    assert err.value.message == services.ALREADY_LINKED


def test_sixth_dealer_is_refused_and_unlink_frees_a_place(gw):
    dealers = [factories.dealer() for _ in range(6)]
    for d in dealers[:5]:
        services.link_dealer(customer=gw.owner, gateway=gw, dealer=d)
    with pytest.raises(services.DealerError) as err:
        services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealers[5])
    assert err.value.message == services.LINKS_FULL
    services.unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealers[0])
    services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealers[5])
    assert DealerLink.objects.filter(gateway=gw, ended_at__isnull=True).count() == 5
    # history is kept, and the old dealer may be linked again later
    assert DealerLink.objects.filter(gateway=gw).count() == 6


def test_only_the_owner_links(gw):
    dealer = factories.dealer()
    with pytest.raises(Exception):  # noqa: B017 - the gateway is not the other customer's
        services.link_dealer(customer=factories.customer(), gateway=gw, dealer=dealer)
    assert not DealerLink.objects.exists()


def test_unlink_takes_effect_on_the_next_lookup(gw, django_capture_on_commit_callbacks):
    dealer = factories.dealer()
    services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    assert access.gateway_or_404(dealer.user, gw.gateway_id) == gw
    with django_capture_on_commit_callbacks(execute=True):
        services.unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    with pytest.raises(access.Http404):
        access.gateway_or_404(dealer.user, gw.gateway_id)
    assert "解除" in mail.outbox[-1].subject
    with pytest.raises(services.DealerError):
        services.unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)


@pytest.mark.django_db(transaction=True)
def test_two_links_racing_for_the_fifth_place_one_wins():
    gw = factories.owned_gateway()
    for _ in range(4):
        services.link_dealer(customer=gw.owner, gateway=gw, dealer=factories.dealer())
    racers = [factories.dealer(), factories.dealer()]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(dealer):
        barrier.wait()
        try:
            services.link_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
            outcomes.append("linked")
        except services.DealerError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(d,)) for d in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == sorted(["linked", services.LINKS_FULL])
    assert DealerLink.objects.filter(gateway=gw, ended_at__isnull=True).count() == 5


def test_staff_limits_and_confirmation(django_capture_on_commit_callbacks):
    dealer = factories.dealer()
    with django_capture_on_commit_callbacks(execute=True):
        staff = services.add_staff(
            dealer=dealer, name="保守 次郎", email="jiro@example.jp", client_address="192.0.2.1"
        )
    assert staff.confirmed_at is None
    assert services.alert_recipients(dealer=dealer) == [dealer.user.email]
    token = mail.outbox[-1].body.split("/dealer/staff/confirm/")[1].split("/")[0]
    services.confirm_staff(raw_token=token)
    assert "jiro@example.jp" in services.alert_recipients(dealer=dealer)
    assert services.confirm_staff(raw_token=token).confirmed_at  # again: still confirmed
    with pytest.raises(services.DealerError):
        services.confirm_staff(raw_token=token[:-2] + "xx")
    with pytest.raises(services.DealerError):
        services.add_staff(
            dealer=dealer, name="重複", email="JIRO@example.jp", client_address="192.0.2.1"
        )
    for i in range(18):
        services.add_staff(
            dealer=dealer, name=f"担当{i}", email=f"s{i}@example.jp", client_address="192.0.2.1"
        )
    with pytest.raises(services.DealerError, match="20名まで"):
        services.add_staff(
            dealer=dealer, name="21人目", email="s21@example.jp", client_address="192.0.2.1"
        )
    # unconfirmed staff can go; the last *confirmed* one cannot (nobody would get alerts)
    for member in dealer.staff.filter(confirmed_at__isnull=True):
        services.remove_staff(dealer=dealer, staff_id=member.pk)
    first, second = dealer.staff.order_by("pk")
    services.remove_staff(dealer=dealer, staff_id=first.pk)
    with pytest.raises(services.DealerError, match="1名以上"):
        services.remove_staff(dealer=dealer, staff_id=second.pk)
    services.add_staff(
        dealer=dealer, name="未確認", email="late@example.jp", client_address="192.0.2.1"
    )
    with pytest.raises(services.DealerError, match="確認済みの保守担当者は1名以上"):
        services.remove_staff(dealer=dealer, staff_id=second.pk)
