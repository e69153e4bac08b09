"""販売店スタッフのログイン (issue 14): the dealer's administrator invites a 保守担当者 by real
mail with a role, the person sets a password, agrees to the dealers' terms and logs in with
their own address; what each role may do, purpose by purpose and page by page; a role change
and an ended login on the person's next request; the records name the person; the limits on
invitations; hostile input."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from essmon.accounts.models import AccountToken, User
from essmon.commands.models import Command
from essmon.dealers import access
from essmon.dealers.access import Purpose
from essmon.dealers.models import DealerAccess, MaintenanceStaff
from essmon.dealers.services import staff_logins
from essmon.dealers.services.staff import remove_staff
from essmon.dealers.services.staff_logins import ADDRESS_IN_USE, ADMIN_ADDRESS
from essmon.notifications.models import OutboxMessage
from essmon.warranty.models import DateChange
from tests import factories
from tests.conftest import SmtpSink
from tests.dealers import test_dealer_records as records_tests
from tests.dealers.test_dealer_records import IN_FORCE, open_alert

pytestmark = pytest.mark.django_db

# the owner's gateway (both dates, settings in force) and a linked dealer 洛南電設
world = records_tests.world

PASSWORD = "Gijutsu2026Kyoto"
ADDRESS = "jiro@rakunan.example.jp"


def add_member(dealer, email=ADDRESS, name="技術 次郎") -> MaintenanceStaff:
    return MaintenanceStaff.objects.create(dealer=dealer, name=name, email=email)


def login_page(member) -> str:
    return reverse("dealers:staff_login", kwargs={"staff_id": member.pk})


def invite(client, dealer, member, role="technician", action="invite"):
    client.force_login(dealer.user)
    return client.post(login_page(member), {"action": action, "role": role})


def accept_path(mailoutbox, address, base_url) -> str:
    (message,) = [m for m in mailoutbox if m.to == [address] and "ログイン" in m.subject][-1:]
    return message.body.split(base_url, 1)[1].split()[0]


def accept(client, path, password=PASSWORD):
    return client.post(path, {"password": password, "password_confirm": password, "agree": "on"})


SETTINGS_FORM = {
    "mode": "green",
    "charge_start": "23:00",
    "charge_end": "07:00",
    "discharge_start": "07:00",
    "discharge_end": "23:00",
    "reserve_soc_pct": "30",
    "export_limit_w": "5900",
    "basis": json.dumps(IN_FORCE),
}


def monitoring(name, gateway, **kwargs):
    return reverse(f"monitoring:{name}", kwargs={"gateway_id": gateway.gateway_id, **kwargs})


@pytest.mark.smtp
def test_an_invitation_by_real_mail_becomes_a_login_with_the_dealers_terms(
    client, world, smtp_server, settings
):
    dealer = world["dealer"]
    member = add_member(dealer)
    response = invite(client, dealer, member)
    assert response.status_code == 302
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == ADDRESS and "ログインへのご招待" in message["Subject"]
    body = SmtpSink.body(message)
    # to an address nobody has confirmed: nothing the dealer typed, only our IDs and words
    for typed in ("洛南電設", "技術 次郎", "保守 一郎"):
        assert typed not in body
    assert dealer.dealer_code in body and "技術担当" in body
    link = SmtpSink.link(message, "/dealer/staff/accept/")
    raw = link.rstrip("/").rsplit("/", 1)[1]
    assert not AccountToken.objects.filter(token_hash=raw).exists()  # hashed only
    assert raw not in OutboxMessage.objects.get(recipient=ADDRESS).body  # scrubbed once sent
    member.refresh_from_db()
    assert member.login_status == "招待中(未設定)" and member.login_role == "technician"

    client.logout()
    path = link.removeprefix(settings.BASE_URL)
    page = client.get(path).content.decode()
    assert "洛南電設" in page and "技術担当" in page and "販売店様利用規約" in page
    assert "管理者にメールでお知らせします" in page
    weak = client.post(path, {"password": "short", "password_confirm": "short", "agree": "on"})
    assert weak.status_code == 400 and not User.objects.filter(email=ADDRESS).exists()
    unagreed = client.post(path, {"password": PASSWORD, "password_confirm": PASSWORD})
    assert unagreed.status_code == 400 and "利用規約への同意が必要です" in unagreed.content.decode()
    done = accept(client, path)
    assert done.status_code == 302 and done.url == reverse("accounts:login")
    assert client.get(path).status_code == 410  # single use

    user = User.objects.get(email=ADDRESS)
    assert user.role == User.Role.DEALER_STAFF and user.name == "技術 次郎"
    assert {a.terms.audience for a in user.terms_acceptances.all()} == {"dealer"}
    member.refresh_from_db()
    assert member.user == user and member.confirmed_at is not None  # the link proved it
    assert member.has_login

    # the dealer's administrator hears of it, at the dealer's own confirmed address
    smtp_server.wait_for(2)
    (told,) = smtp_server.to(dealer.user.email)
    assert "ログインが設定されました" in told["Subject"]
    told_body = SmtpSink.body(told)
    assert "技術 次郎" in told_body and ADDRESS in told_body and "役割: 技術担当" in told_body
    assert settings.BASE_URL + login_page(member) in told_body
    assert PASSWORD not in told_body and raw not in told_body
    assert not smtp_server.to(ADDRESS)[1:]  # the person gets the invitation only

    # the login page and its limits, with the person's own address
    wrong = client.post(reverse("accounts:login"), {"email": ADDRESS, "password": "x" * 12})
    assert wrong.status_code == 200 and not wrong.wsgi_request.user.is_authenticated
    landed = client.post(
        reverse("accounts:login"), {"email": ADDRESS, "password": PASSWORD}, follow=True
    )
    assert landed.redirect_chain[-1][0] == reverse("dealers:menu")
    menu = landed.content.decode()
    assert "販売店スタッフ・技術担当" in menu and "技術 次郎" in menu
    assert reverse("dealers:staff") not in menu and reverse("dealers:profile") not in menu


def test_the_dealer_terms_in_force_say_each_person_has_a_login():
    """Version 1.2 (accounts 0010) replaces 1.1's article 2.2, which said the dealer's
    employees share its login; every other article is 1.1's."""
    from essmon.accounts import selectors as account_selectors
    from essmon.accounts.models import TermsVersion

    (terms,) = account_selectors.terms_in_force(TermsVersion.Audience.DEALER)
    assert terms.version == "1.2" and "第2条(販売店アカウント)第2項" in terms.changes
    earlier = TermsVersion.objects.get(audience="dealer", kind="terms", version="1.1")
    old, new = earlier.body.splitlines(), terms.body.splitlines()
    assert len(old) == len(new)
    (changed,) = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert "ログイン情報を知る従業者" in changed[0]
    assert changed[1].startswith("2. ") and "ログイン情報を知る従業者" not in changed[1]
    for said in ("保守担当者ごとに", "役割(技術担当または閲覧のみ)", "停止する", "操作した者ごと"):
        assert said in changed[1]
    assert terms.privacy_purpose == earlier.privacy_purpose


EXPECTED = {
    "technician": {
        Purpose.VIEW,
        Purpose.VIEW_DETAILS,
        Purpose.VIEW_CUSTOMER,
        Purpose.CHANGE_SETTINGS,
        Purpose.ACKNOWLEDGE_ALERT,
        Purpose.WARRANTY_DATES,
        Purpose.REPLACE_GATEWAY,
    },
    "viewer": {Purpose.VIEW, Purpose.VIEW_DETAILS, Purpose.VIEW_CUSTOMER},
}


@pytest.mark.parametrize("purpose", list(Purpose), ids=lambda p: p.value)
@pytest.mark.parametrize("role", ["technician", "viewer"])
def test_each_role_may_what_its_table_says(world, role, purpose):
    user = factories.dealer_staff(dealer=world["dealer"], role=role)
    allowed = access.may(user, purpose, world["gateway"])
    assert allowed == (purpose in EXPECTED[role])
    # and never a gateway its dealer is not linked to
    assert not access.may(user, purpose, factories.owned_gateway())


def test_a_view_only_staff_member_changes_nothing_through_the_pages(client, world):
    gateway = world["gateway"]
    user = factories.dealer_staff(dealer=world["dealer"], role="viewer")
    client.force_login(user)
    page = client.get(monitoring("settings", gateway))
    assert page.status_code == 200 and "設定を変更" not in page.content.decode()
    # the page exists for them, only not the form: 405, as the warranty tab answers
    assert client.post(monitoring("settings", gateway), SETTINGS_FORM).status_code == 405
    dates = {"grid_connection_date": "2024-01-10", "received_date": "2024-01-05"}
    assert client.post(monitoring("warranty", gateway), dates).status_code == 405
    alert = open_alert(gateway)
    ack = monitoring("alert_acknowledge", gateway, alert_id=alert.pk)
    assert client.post(ack, {"comment": "見ました"}).status_code == 404
    assert "確認済みにする" not in client.get(monitoring("alerts", gateway)).content.decode()
    replace = reverse("dealers:gateway_replace", kwargs={"gateway_id": gateway.gateway_id})
    assert client.get(replace).status_code == 404
    customer = client.get(
        reverse("dealers:gateway_customer", kwargs={"gateway_id": gateway.gateway_id})
    ).content.decode()
    assert "御室 花子" in customer and replace not in customer
    assert not Command.objects.exists() and not DateChange.objects.exists()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


@pytest.mark.parametrize("role", ["technician", "viewer"])
def test_staff_never_manage_the_dealer(client, world, role):
    dealer = world["dealer"]
    user = factories.dealer_staff(dealer=dealer, role=role)
    other = add_member(dealer, email="other@rakunan.example.jp")
    client.force_login(user)
    for url in (
        reverse("dealers:profile"),
        reverse("dealers:staff"),
        login_page(other),
        reverse("dealers:staff_remove", kwargs={"staff_id": other.pk}),
    ):
        assert client.get(url).status_code in (404, 405), url
        assert client.post(url, {"action": "invite", "role": "technician"}).status_code == 404
    assert client.get(reverse("accounts:profile")).url == reverse("dealers:menu")
    assert client.get(reverse("accounts:menu")).url == reverse("dealers:menu")
    other.refresh_from_db()
    assert other.login_token is None  # nothing was sent


def test_a_role_change_and_an_ended_login_take_effect_on_the_next_request(client, world):
    dealer, gateway = world["dealer"], world["gateway"]
    user = factories.dealer_staff(dealer=dealer, role="technician")
    member = MaintenanceStaff.objects.get(user=user)
    working = Client()
    working.force_login(user)
    assert working.post(monitoring("settings", gateway), SETTINGS_FORM).status_code == 302

    changed = invite(client, dealer, member, role="viewer", action="role")
    assert changed.status_code == 302
    assert working.post(monitoring("settings", gateway), SETTINGS_FORM).status_code == 405
    assert working.get(monitoring("live", gateway)).status_code == 200

    ended = client.post(login_page(member), {"action": "end"})
    assert ended.status_code == 302
    gone = working.get(reverse("dealers:menu"))
    assert gone.status_code == 302 and gone.url.startswith(reverse("accounts:login"))
    assert working.get(monitoring("live", gateway)).status_code == 302
    fresh = Client()
    refused = fresh.post(reverse("accounts:login"), {"email": user.email, "password": "x"})
    assert not refused.wsgi_request.user.is_authenticated
    member.refresh_from_db()
    assert member.login_status == "ログイン停止"
    assert member.confirmed_at is not None  # still a 保守担当者 for the alert mails
    # the account stays for the records, disabled
    user.refresh_from_db()
    assert not user.is_active


def test_an_ended_login_can_be_given_again(client, world, settings, mailoutbox):
    dealer = world["dealer"]
    user = factories.dealer_staff(dealer=dealer, role="technician", email=ADDRESS)
    member = MaintenanceStaff.objects.get(user=user)
    staff_logins.end_staff_login(dealer=dealer, staff_id=member.pk)
    assert invite(client, dealer, member, role="viewer").status_code == 302
    path = accept_path(mailoutbox, ADDRESS, settings.BASE_URL)
    client.logout()
    assert accept(client, path, password="Again2026Kyoto").status_code == 302
    user.refresh_from_db()
    assert user.is_active and user.check_password("Again2026Kyoto")
    assert User.objects.filter(email=ADDRESS).count() == 1
    assert access.dealer_seat(user).role == "viewer"


def test_removing_a_staff_member_ends_their_login(world):
    dealer = world["dealer"]
    user = factories.dealer_staff(dealer=dealer)
    remove_staff(dealer=dealer, staff_id=MaintenanceStaff.objects.get(user=user).pk)
    user.refresh_from_db()
    assert not user.is_active and access.dealer_seat(user) is None


def test_a_disabled_dealer_takes_its_staff_with_it(world):
    dealer = world["dealer"]
    user = factories.dealer_staff(dealer=dealer)
    assert access.dealer_of(user) == dealer
    User.objects.filter(pk=dealer.user_id).update(is_active=False)
    assert access.dealer_seat(user) is None
    assert not access.visible_gateways(user).exists()


def test_every_record_names_the_person_and_the_customer_sees_both(client, world):
    dealer, gateway = world["dealer"], world["gateway"]
    user = factories.dealer_staff(dealer=dealer, role="technician", name="技術 次郎")
    client.force_login(user)
    assert client.get(monitoring("live", gateway)).status_code == 200
    assert client.post(monitoring("settings", gateway), SETTINGS_FORM).status_code == 302
    dates = {"grid_connection_date": "2024-01-10", "received_date": "2024-01-05"}
    assert client.post(monitoring("warranty", gateway), dates).status_code == 302
    alert = open_alert(gateway)
    ack = monitoring("alert_acknowledge", gateway, alert_id=alert.pk)
    assert client.post(ack, {"comment": "伺います"}).status_code == 302

    said = "販売店 洛南電設(技術 次郎)"
    assert Command.objects.get(setting="mode").requested_by == user
    assert Command.objects.get(setting="mode").requested_as == said
    alert.refresh_from_db()
    assert alert.acknowledged_by == user and alert.acknowledged_as == said
    assert {c.changed_as for c in DateChange.objects.all()} == {said}
    rows = DealerAccess.objects.all()
    assert rows and all(r.user == user and r.actor_name == "技術 次郎" for r in rows)
    assert {r.dealer for r in rows} == {dealer}

    client.force_login(world["owner"])
    page = client.get(reverse("links:gateway", kwargs={"gateway_id": gateway.gateway_id}))
    table = page.content.decode().split("販売店様による閲覧・変更の記録</h2>", 1)[1]
    assert "洛南電設" in table and "技術 次郎 様" in table and "運転モード" in table

    # the administrator reads the person's part
    client.force_login(dealer.user)
    mine = client.get(login_page(MaintenanceStaff.objects.get(user=user))).content.decode()
    assert "設定の変更" in mine and "異常の確認" in mine and gateway.gateway_id in mine


def test_invitations_are_limited_per_dealer_and_per_address(client, world, monkeypatch, settings):
    dealer = world["dealer"]
    member = add_member(dealer)
    settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY = 2
    for _ in range(2):
        assert invite(client, dealer, member).status_code == 302
    third = invite(client, dealer, member)
    assert third.status_code == 400
    assert OutboxMessage.objects.filter(recipient=ADDRESS).count() == 2
    # only the newest link works
    tokens = AccountToken.objects.filter(purpose="staff_invitation").order_by("pk")
    assert [t.is_usable() for t in tokens] == [False, True]

    monkeypatch.setattr(staff_logins, "INVITATIONS_PER_DEALER_PER_DAY", 3)
    others = [add_member(dealer, email=f"s{n}@rakunan.example.jp") for n in range(2)]
    assert invite(client, dealer, others[0]).status_code == 302
    refused = invite(client, dealer, others[1])
    assert refused.status_code == 400 and "送信" in refused.content.decode()
    others[1].refresh_from_db()
    assert others[1].login_token is None


@pytest.mark.parametrize(
    "post",
    [
        {"action": "invite", "role": "admin"},
        {"action": "invite", "role": "technician\x00"},
        {"action": "invite", "role": "x" * 100_000},
        {"action": "invite"},
        {"action": "promote", "role": "technician"},
        {"action": "role", "role": "viewer"},  # no login to change yet
        {"action": "end"},
    ],
    ids=["admin", "nul", "huge", "no-role", "bogus-action", "role-no-login", "end-no-login"],
)
def test_hostile_input_on_the_login_page_gets_japanese_words(client, world, post):
    dealer = world["dealer"]
    member = add_member(dealer)
    client.force_login(dealer.user)
    response = client.post(login_page(member), post)
    assert response.status_code == 400
    assert "エラー" in response.content.decode()
    member.refresh_from_db()
    assert member.login_token is None and member.login_role == ""
    assert not OutboxMessage.objects.filter(kind="staff_login_invitation").exists()


def test_another_dealers_staff_and_the_admins_own_row(client, world):
    dealer = world["dealer"]
    stranger = add_member(factories.dealer(), email="x@elsewhere.example.jp")
    client.force_login(dealer.user)
    assert client.get(login_page(stranger)).status_code == 404
    assert client.post(login_page(stranger), {"action": "end"}).status_code == 404
    own = dealer.staff.get(email=dealer.user.email)
    page = client.get(login_page(own)).content.decode()
    assert "販売店様ご自身(管理者)のアカウント" in page
    refused = invite(client, dealer, own)
    assert refused.status_code == 400 and ADMIN_ADDRESS in refused.content.decode()


@pytest.mark.parametrize("role", ["customer", "dealer", "viewer"])
def test_an_address_of_another_account_cannot_become_a_staff_login(
    client, world, role, settings, mailoutbox
):
    address = "taken@example.jp"
    if role == "dealer":
        factories.dealer(email=address)
    elif role == "viewer":
        factories.viewer(owner=world["owner"], gateway=world["gateway"], email=address)
    else:
        factories.customer(email=address)
    member = add_member(world["dealer"], email=address)
    # the dealer hears what it hears for any address
    assert invite(client, world["dealer"], member).status_code == 302
    path = accept_path(mailoutbox, address, settings.BASE_URL)
    client.logout()
    page = client.get(path)
    assert page.status_code == 410 and ADDRESS_IN_USE in page.content.decode()
    assert accept(client, path).status_code == 410
    assert User.objects.get(email=address).role != User.Role.DEALER_STAFF


@pytest.mark.parametrize("token", ["x" * 500, "nope", "%00"])
def test_unknown_links_are_gone(client, token):
    response = client.get(f"/dealer/staff/accept/{token}/")
    assert response.status_code == 410 and "無効" in response.content.decode()


def test_hostile_input_on_the_accept_page(client, world, settings, mailoutbox):
    dealer = world["dealer"]
    invite(client, dealer, add_member(dealer))
    path = accept_path(mailoutbox, ADDRESS, settings.BASE_URL)
    client.logout()
    for password in ("Gijutsu\x002026Kyoto", "a" * 100_000, ADDRESS):
        response = accept(client, path, password=password)
        assert response.status_code == 400, password[:20]
        assert "エラー" in response.content.decode()
    response = client.post(path, {"password": ["a", "b"], "agree": "maybe"})
    assert response.status_code == 400
    assert not User.objects.filter(email=ADDRESS).exists()


@pytest.mark.parametrize("who", ["administrator", "staff"])
def test_an_address_change_onto_another_staff_members_address_is_refused_in_words(
    client, world, settings, mailoutbox, who
):
    """The list of 保守担当者 holds each address once (a database constraint), and an address
    change moves the person's row (dealers.receivers): moving onto another row's address is
    a form error when asked, and the link's page says so if the row appeared since."""
    from essmon.dealers.receivers import ADDRESS_OF_ANOTHER_STAFF

    dealer = world["dealer"]
    taken = add_member(dealer, email="hanako@rakunan.example.jp", name="保守 花子")
    user = dealer.user if who == "administrator" else factories.dealer_staff(dealer=dealer)
    old_email = user.email
    refusal = ADDRESS_OF_ANOTHER_STAFF[user.role]
    client.force_login(user)

    def ask(address):
        return client.post(
            reverse("accounts:email_change"),
            {
                "current_password": factories.USER_PASSWORD,
                "email": address,
                "email_confirm": address,
            },
        )

    response = ask(taken.email.upper())
    assert response.status_code == 200 and refusal in response.content.decode()
    assert not AccountToken.objects.filter(user=user, purpose="email_change").exists()
    assert not mailoutbox

    later = "saburo@rakunan.example.jp"
    assert ask(later).status_code == 200 and len(mailoutbox) == 1
    add_member(dealer, email=later, name="後から 三郎")  # before the link is opened
    link = mailoutbox[0].body.split(settings.BASE_URL, 1)[1].split()[0]
    opened = client.get(link)
    assert opened.status_code == 410 and refusal in opened.content.decode()
    user.refresh_from_db()
    assert user.email == old_email
    assert MaintenanceStaff.objects.filter(dealer=dealer, email=old_email).count() == 1


def test_the_manual_tells_dealers_about_staff_logins(client):
    manual = client.get(reverse("accounts:manual")).content.decode()
    part = manual.split('id="dealer-staff-logins"', 1)[1].split("</ul>", 1)[0]
    days = staff_logins.INVITATION_LIFETIME.days
    for said in (
        f"URLは{days}日間、1回だけ有効",
        "技術担当",
        "閲覧のみ",
        "ログインを停止",
        "氏名とともに記録",
    ):
        assert said in part
    assert "販売店スタッフのログインへの招待" in manual  # among the limited mails
