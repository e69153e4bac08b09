"""保守を任せる販売店様の管理 through the customer's screens: link (search → 販売店ID and
phone → confirmation with consent → completion), unlink, the per-gateway log, and who may
open any of it."""

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from essmon.dealers import services
from essmon.dealers.models import (
    Dealer,
    DealerAccess,
    DealerLink,
    MaintenanceStaff,
    ProvisionRecord,
)
from essmon.notifications.models import OutboxMessage
from tests import factories

pytestmark = pytest.mark.django_db

_codes = iter(range(1000000, 9999999))


def make_dealer(
    *, code: str | None = None, phone: str = "+81751112222", company: str = "京都蓄電サービス"
) -> Dealer:
    user = factories.customer(role="dealer", phone=phone, name="販売 一郎")
    return Dealer.objects.create(
        user=user, dealer_code=code or f"D{next(_codes)}", company_name=company, branch="京都支店"
    )


@pytest.fixture
def user():
    return factories.customer(email="hanako@example.jp", name="御室 花子")


@pytest.fixture
def gw(user):
    return factories.gateway(
        state="claimed", owner=user, site=factories.site(owner=user, name="御室邸")
    )


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def dealer():
    return make_dealer(code="D1234567", phone="+81751112222")


def url(name: str, gateway=None, **kwargs) -> str:
    if gateway is not None:
        kwargs["gateway_id"] = gateway.gateway_id
    return reverse(f"links:{name}", kwargs=kwargs or None)


def pair(client, gateway, code="D1234567", phone="075-111-2222"):
    return client.post(url("link_form", gateway), {"dealer_code": code, "phone": phone})


def page(response) -> str:
    return response.content.decode()


# --- the link flow ------------------------------------------------------------------


def test_main_menu_leads_to_the_management_menu(logged_in):
    menu = page(logged_in.get(reverse("accounts:menu")))
    assert "保守を任せる販売店様の管理" in menu and url("menu") in menu
    links_menu = page(logged_in.get(url("menu")))
    for words in [
        "保守を任せる販売店様の管理メニュー",
        "保守を任せる販売店様登録",
        "保守している販売店様解除",
    ]:
        assert words in links_menu
    assert url("link_search") in links_menu and url("unlink_search") in links_menu


def test_full_link_flow_records_consent_and_mails_dealer_and_confirmed_staff(
    logged_in, user, gw, dealer
):
    MaintenanceStaff.objects.create(
        dealer=dealer, name="確認済", email="staff@example.jp", confirmed_at=timezone.now()
    )
    MaintenanceStaff.objects.create(dealer=dealer, name="未確認", email="pending@example.jp")

    search = page(logged_in.get(url("link_search")))
    assert "販売店様に保守を任せるゲートウェイの検索" in search
    assert gw.gateway_id in search and url("link_form", gw) in search and "0社 / 5社" in search

    form = page(logged_in.get(url("link_form", gw)))
    assert "保守を任せる販売店様の登録" in form and "次に進む" in form
    assert '<label for="id_dealer_code">販売店ID' in form
    assert '<label for="id_phone">電話番号' in form

    response = pair(logged_in, gw, code="d1234567", phone="０７５-１１１-２２２２")
    assert response.status_code == 302 and response.url == url("link_confirm", gw)

    confirm = page(logged_in.get(url("link_confirm", gw)))
    for words in ["京都蓄電サービス", "京都支店", "D1234567", gw.gateway_id, "御室邸"]:
        assert words in confirm
    # the consent's words, the shared items listed once (issue 12 §3: they were twice)
    for _, label in services.SHARED_ITEMS:
        assert confirm.count(f"<li>{label}</li>") == 1
    assert "案件名・設置先住所" not in confirm.replace("<li>案件名・設置先住所</li>", "")
    assert services.CONSENT_LEAD in confirm and services.CONSENT_TAIL in confirm
    assert services.RECORDED_ACTIVITIES in confirm and "記録は3年間保存されます" in confirm
    assert "上記の情報を販売店様に提供することに同意します" in confirm
    assert 'type="checkbox"' in confirm and 'for="id_consent"' in confirm
    assert "登録" in confirm and "前に戻る" in confirm
    assert not DealerLink.objects.exists() and not mail.outbox

    response = logged_in.post(url("link_confirm", gw), {"consent": "on", "register": ""})
    assert response.status_code == 302 and response.url == url("link_done", gw)
    done = page(logged_in.get(response.url))
    assert "登録完了" in done and "販売店様には連絡用のメールが送信されます" in done
    assert "京都蓄電サービス" in done

    link = DealerLink.objects.get()
    assert (link.gateway, link.dealer, link.created_by, link.ended_at) == (gw, dealer, user, None)
    record = ProvisionRecord.objects.get()
    assert record.link == link and record.customer == user and record.dealer == dealer
    assert record.gateway_code == gw.gateway_id and record.customer_name == "御室 花子"
    assert record.consent_text == services.CONSENT_TEXT

    assert sorted(m.to[0] for m in mail.outbox) == sorted([dealer.user.email, "staff@example.jp"])
    for message in mail.outbox:
        assert "保守紐付け登録" in message.subject
        assert f"貴社が{services.RECORDED_ACTIVITIES}は記録され、お客様が確認できます" in (
            message.body.replace("\n", "")
        )
        for words in ["D1234567", gw.gateway_id, "御室邸", "御室 花子"]:
            assert words in message.body
    assert set(OutboxMessage.objects.values_list("kind", flat=True)) == {"dealer_linked"}

    # the completion page is shown once; the search now counts the dealer
    assert logged_in.get(url("link_done", gw)).url == url("menu")
    assert "1社 / 5社" in page(logged_in.get(url("link_search")))


def test_consent_checkbox_is_required(logged_in, gw, dealer):
    pair(logged_in, gw)
    response = logged_in.post(url("link_confirm", gw), {"register": ""})
    assert response.status_code == 200
    assert "同意いただけない場合は登録できません" in page(response)
    assert not DealerLink.objects.exists() and not ProvisionRecord.objects.exists()
    assert not mail.outbox


def test_back_from_confirmation_keeps_the_input(logged_in, gw, dealer):
    pair(logged_in, gw)
    response = logged_in.post(url("link_confirm", gw), {"back": ""})
    assert response.url == url("link_form", gw)
    form = page(logged_in.get(response.url))
    assert 'value="D1234567"' in form and 'value="075-111-2222"' in form
    assert not DealerLink.objects.exists()


def test_confirmation_needs_a_pair_found_for_this_gateway(logged_in, user, gw, dealer):
    assert logged_in.get(url("link_confirm", gw)).url == url("link_form", gw)
    other = factories.gateway(state="claimed", owner=user, site=factories.site(owner=user))
    pair(logged_in, other)
    assert logged_in.get(url("link_confirm", gw)).url == url("link_form", gw)
    response = logged_in.post(url("link_confirm", gw), {"consent": "on"})
    assert response.url == url("link_form", gw) and not DealerLink.objects.exists()


@pytest.mark.parametrize(
    ("code", "phone"),
    [("D7654321", "075-111-2222"), ("D1234567", "075-999-9999"), ("D0000000", "03-0000-0000")],
    ids=["wrong-id", "wrong-phone", "both-wrong"],
)
def test_wrong_pair_gives_one_generic_message(logged_in, gw, dealer, code, phone):
    response = pair(logged_in, gw, code=code, phone=phone)
    assert response.status_code == 200
    body = page(response)
    assert services.WRONG_PAIR in body
    assert body.count('class="error"') == 0  # on top, next to neither field
    assert "京都蓄電サービス" not in body


def test_malformed_input_gets_the_same_message_and_empty_fields_their_own(logged_in, gw, dealer):
    assert services.WRONG_PAIR in page(pair(logged_in, gw, code="??", phone="abc"))
    body = page(pair(logged_in, gw, code="", phone=""))
    assert body.count('class="error"') == 2 and services.WRONG_PAIR not in body


def test_ten_wrong_pairs_an_hour_then_blocked(logged_in, gw, dealer):
    for _ in range(10):
        assert services.WRONG_PAIR in page(pair(logged_in, gw, code="D0000000"))
    response = pair(logged_in, gw)  # the right pair, but too late
    assert response.status_code == 200
    assert services.TOO_MANY_PAIRS in page(response)
    assert logged_in.get(url("link_confirm", gw)).url == url("link_form", gw)


def test_the_same_dealer_twice_is_refused(logged_in, user, gw, dealer):
    services.link_dealer(customer=user, gateway=gw, dealer=dealer)
    response = pair(logged_in, gw)
    assert response.status_code == 200 and services.ALREADY_LINKED in page(response)
    assert DealerLink.objects.count() == 1


def test_linked_between_confirmation_and_register_is_refused(logged_in, user, gw, dealer):
    pair(logged_in, gw)
    services.link_dealer(customer=user, gateway=gw, dealer=dealer)  # e.g. another tab
    response = logged_in.post(url("link_confirm", gw), {"consent": "on", "register": ""})
    assert response.status_code == 200 and services.ALREADY_LINKED in page(response)
    assert DealerLink.objects.count() == 1


def test_a_sixth_dealer_is_refused_with_a_clear_message(logged_in, user, gw):
    for n in range(5):
        services.link_dealer(customer=user, gateway=gw, dealer=make_dealer(phone=f"+8175111000{n}"))
    sixth = make_dealer(code="D7777777", phone="+81752223333")
    assert "すでに5社の販売店様が登録されています" in page(logged_in.get(url("link_form", gw)))
    response = pair(logged_in, gw, code=sixth.dealer_code, phone="075-222-3333")
    assert response.status_code == 200 and services.LINKS_FULL in page(response)
    assert "5社まで" in services.LINKS_FULL
    assert gw.dealer_links.filter(ended_at__isnull=True).count() == 5


def test_link_and_unlink_rounds_mail_the_dealer_only_within_the_allowance(
    logged_in, user, gw, dealer, settings
):
    """The customer's own free text (お客様名, 案件名) goes in every notice: linking and
    unlinking in a loop must not make the service a mailer to the dealer."""
    settings.DEALER_LINKS_PER_CUSTOMER_AND_DEALER_PER_DAY = 3
    user.name = "至急 http://evil.example/login"
    user.save(update_fields=["name"])
    refused = None
    for _ in range(20):
        assert pair(logged_in, gw).url == url("link_confirm", gw)
        response = logged_in.post(url("link_confirm", gw), {"consent": "on", "register": ""})
        if response.status_code != 302:
            refused = page(response)
            break
        unlink = url("unlink_confirm", gw, dealer_code=dealer.dealer_code)
        assert logged_in.post(unlink, {"unlink": ""}).url == url("unlink_done", gw)
    assert refused is not None and services.PAIR_NOTICES_HELD_BACK in refused
    assert DealerLink.objects.count() == 3  # the refused one made nothing
    queued = OutboxMessage.objects.filter(recipient=dealer.user.email)
    assert queued.count() == 6  # three links and their three unlinks
    # another dealer is not held back by this pair
    other = make_dealer(code="D7654321", phone="+81751113333")
    assert pair(logged_in, gw, code="D7654321", phone="075-111-3333").status_code == 302
    response = logged_in.post(url("link_confirm", gw), {"consent": "on", "register": ""})
    assert response.url == url("link_done", gw)
    assert DealerLink.objects.filter(dealer=other, ended_at__isnull=True).exists()


def test_a_dealer_gets_a_bounded_number_of_link_notices_a_day(settings, dealer):
    from essmon.dealers.services import DEALER_NOTICES_HELD_BACK, DealerError

    settings.DEALER_LINKS_PER_DEALER_PER_DAY = 4
    for i in range(4):
        owner = factories.customer()
        gateway = factories.gateway(state="claimed", owner=owner)
        services.link_dealer(
            customer=owner, gateway=gateway, dealer=dealer, client_address=f"192.0.2.{i}"
        )
    owner = factories.customer()
    gateway = factories.gateway(state="claimed", owner=owner)
    with pytest.raises(DealerError) as refusal:
        services.link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    assert refusal.value.message == DEALER_NOTICES_HELD_BACK
    assert OutboxMessage.objects.filter(recipient=dealer.user.email).count() == 4
    # the dealer's own password reset keeps its allowance: notices are counted apart
    from essmon.notifications.services import allow_mail_to_typed_address

    allow_mail_to_typed_address(recipient=dealer.user.email, client_address="198.51.100.1")


def test_search_by_gateway_id_or_site_name(logged_in, user, gw):
    other = factories.gateway(
        state="claimed", owner=user, site=factories.site(owner=user, name="別荘")
    )
    for name in ["link_search", "unlink_search"]:
        by_name = page(logged_in.get(url(name), {"q": "別荘"}))
        assert other.gateway_id in by_name and gw.gateway_id not in by_name
        by_id = page(logged_in.get(url(name), {"q": gw.gateway_id.lower()}))
        assert gw.gateway_id in by_id and other.gateway_id not in by_id
        nothing = page(logged_in.get(url(name), {"q": "存在しない"}))
        assert "一致するゲートウェイはありません" in nothing


# --- the unlink flow ------------------------------------------------------------------


def test_full_unlink_flow_ends_the_link_and_mails_the_dealer(logged_in, user, gw, dealer):
    other = make_dealer(code="D2222222", company="大阪電設")
    services.link_dealer(customer=user, gateway=gw, dealer=dealer)
    services.link_dealer(customer=user, gateway=gw, dealer=other)
    mail.outbox.clear()

    search = page(logged_in.get(url("unlink_search")))
    assert "保守を任せている販売店様を解除するゲートウェイの検索" in search
    assert url("unlink_dealers", gw) in search

    listing = page(logged_in.get(url("unlink_dealers", gw)))
    assert "保守を任せている販売店様の解除" in listing
    assert "D1234567" in listing and "D2222222" in listing
    confirm_url = url("unlink_confirm", gw, dealer_code="D1234567")
    other_url = url("unlink_confirm", gw, dealer_code="D2222222")
    assert confirm_url in listing and other_url in listing
    by_name = page(logged_in.get(url("unlink_dealers", gw), {"q": "大阪"}))
    assert other_url in by_name and confirm_url not in by_name
    by_code = page(logged_in.get(url("unlink_dealers", gw), {"q": "ｄ1234567"}))
    assert confirm_url in by_code and other_url not in by_code

    confirm = page(logged_in.get(confirm_url))
    for words in ["京都蓄電サービス", "京都支店", "D1234567", gw.gateway_id, "解除"]:
        assert words in confirm
    assert logged_in.post(confirm_url, {"back": ""}).url == url("unlink_dealers", gw)
    assert DealerLink.objects.filter(ended_at__isnull=True).count() == 2

    response = logged_in.post(confirm_url, {"unlink": ""})
    assert response.url == url("unlink_done", gw)
    done = page(logged_in.get(response.url))
    assert "解除完了" in done and "販売店様には連絡用のメールが送信されます" in done

    link = DealerLink.objects.get(dealer=dealer)
    assert link.ended_at is not None and link.ended_by == user
    assert DealerLink.objects.get(dealer=other).ended_at is None
    assert ProvisionRecord.objects.filter(link=link).exists()  # the record stays
    (message,) = mail.outbox
    assert message.to == [dealer.user.email] and "保守紐付け解除" in message.subject
    for words in ["D1234567", gw.gateway_id, "御室邸", "御室 花子", "終了"]:
        assert words in message.body

    # no longer listed, and its confirmation page is gone
    assert confirm_url not in page(logged_in.get(url("unlink_dealers", gw)))
    assert logged_in.get(confirm_url).status_code == 404
    assert logged_in.post(confirm_url, {"unlink": ""}).status_code == 404


def test_gateway_page_shows_linked_dealers_access_log_and_history(logged_in, user, gw, dealer):
    other = make_dealer(code="D2222222", company="大阪電設")
    services.link_dealer(customer=user, gateway=gw, dealer=dealer)
    services.link_dealer(customer=user, gateway=gw, dealer=other)
    services.unlink_dealer(customer=user, gateway=gw, dealer=other)
    services.record_change(
        user=dealer.user,
        gateway=gw,
        action=DealerAccess.Action.CHANGE_SETTINGS,
        detail="運転モード: 経済モード → グリーンモード",
    )
    services.record_view(user=dealer.user, gateway=gw, action=DealerAccess.Action.VIEW_CUSTOMER)

    assert url("gateway", gw) in page(logged_in.get(url("menu")))
    assert url("gateway", gw) in page(logged_in.get(url("link_search")))
    body = page(logged_in.get(url("gateway", gw)))
    assert "保守を任せている販売店様(1社 / 5社)" in body
    for words in ["京都蓄電サービス", "設定の変更", "運転モード", "お客様情報の閲覧"]:
        assert words in body
    assert "大阪電設" in body and "保守中" in body  # history: one ended, one still on
    assert body.count('data-label="解除日時"') == 2


# --- who may open these screens ---------------------------------------------------------

GATEWAY_URLS = ["gateway", "link_form", "link_confirm", "link_done", "unlink_dealers"]


def all_urls(gateway, dealer_code="D1234567") -> list[str]:
    return [
        url("menu"),
        url("link_search"),
        url("unlink_search"),
        *(url(name, gateway) for name in GATEWAY_URLS),
        url("unlink_done", gateway),
        url("unlink_confirm", gateway, dealer_code=dealer_code),
    ]


def test_anonymous_is_sent_to_login(client, gw):
    for address in all_urls(gw):
        response = client.get(address)
        assert response.status_code == 302, address
        assert response.url.startswith(reverse("accounts:login") + "?next="), address


def test_another_customers_gateway_is_404_on_every_url(client, gw, dealer):
    owner = gw.owner
    services.link_dealer(customer=owner, gateway=gw, dealer=dealer)
    stranger = factories.customer()
    client.force_login(stranger)
    gateway_urls = all_urls(gw)[3:]
    for address in gateway_urls:
        assert client.get(address).status_code == 404, address
    posted = {"dealer_code": "D1234567", "phone": "075-111-2222", "consent": "on", "unlink": ""}
    for address in [
        url("link_form", gw),
        url("link_confirm", gw),
        url("unlink_confirm", gw, dealer_code="D1234567"),
    ]:
        assert client.post(address, posted).status_code == 404, address
    for name in ["menu", "link_search", "unlink_search"]:
        assert gw.gateway_id not in page(client.get(url(name)))
    assert DealerLink.objects.get().ended_at is None
    assert DealerLink.objects.count() == 1


def test_the_linked_dealer_cannot_manage_links(client, user, gw, dealer):
    services.link_dealer(customer=user, gateway=gw, dealer=dealer)
    client.force_login(dealer.user)
    for address in all_urls(gw)[3:]:
        assert client.get(address).status_code == 404, address


def test_unlink_confirm_for_a_dealer_not_linked_is_404(logged_in, gw, dealer):
    assert logged_in.get(url("unlink_confirm", gw, dealer_code="D1234567")).status_code == 404
    assert logged_in.get(url("unlink_dealers", gw)).status_code == 200
