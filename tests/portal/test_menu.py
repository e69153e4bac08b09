"""The logged-in customer: main menu, second gateway, account changes, manual, monitoring."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from essmon.accounts.services.gateway_add import add_gateway
from essmon.accounts.services.inputs import SiteInput
from essmon.gateways.models import Gateway
from essmon.gateways.services import UNAVAILABLE, WRONG_CREDENTIALS, GatewayError
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return factories.customer(email="hanako@example.jp")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "name",
    [
        "accounts:menu",
        "accounts:account",
        "accounts:profile",
        "accounts:email_change",
        "accounts:password_change",
        "accounts:gateway_add",
    ],
)
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login") + "?next=")


def test_anonymous_is_sent_to_the_monitoring_sites_own_login(client):
    response = client.get(reverse("monitoring:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("monitoring:login") + "?next=")


def test_menu_lists_only_own_gateways(logged_in, user):
    mine = factories.gateway(
        state="claimed", owner=user, site=factories.site(owner=user, name="自宅")
    )
    other = factories.customer()
    theirs = factories.gateway(
        state="claimed", owner=other, site=factories.site(owner=other, name="他人邸")
    )
    page = logged_in.get(reverse("accounts:menu")).content.decode()
    for word in [
        "メインメニュー",
        "ゲートウェイの登録",
        "モニタリングサイト",
        "商品マニュアル",
        mine.gateway_id,
        "自宅",
    ]:
        assert word in page
    assert theirs.gateway_id not in page and "他人邸" not in page
    monitoring = logged_in.get(reverse("monitoring:index"), follow=True).content.decode()
    assert mine.gateway_id in monitoring and theirs.gateway_id not in monitoring


def test_add_second_gateway(logged_in, user):
    gw = factories.gateway()
    response = logged_in.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    assert response.url == reverse("accounts:gateway_add_site")
    site = {
        "site_name": "別荘",
        "site_postal_code": "100-0001",
        "site_prefecture": "東京都",
        "site_city": "千代田区",
        "site_address_rest": "千代田1-1",
    }
    assert logged_in.post(reverse("accounts:gateway_add_site"), site).url == reverse(
        "accounts:gateway_add_confirm"
    )
    confirm = logged_in.get(reverse("accounts:gateway_add_confirm")).content.decode()
    assert (
        "入力内容確認" in confirm
        and "別荘" in confirm
        and factories.GATEWAY_PASSWORD not in confirm
    )
    # 前に戻る keeps the 案件
    assert logged_in.post(reverse("accounts:gateway_add_confirm"), {"back": "1"}).url == reverse(
        "accounts:gateway_add_site"
    )
    assert 'value="別荘"' in logged_in.get(reverse("accounts:gateway_add_site")).content.decode()
    response = logged_in.post(reverse("accounts:gateway_add_confirm"), {"register": "1"})
    assert response.url == reverse("accounts:gateway_add_done")
    gw.refresh_from_db()
    assert gw.state == Gateway.State.CLAIMED and gw.owner == user and gw.site.name == "別荘"
    assert gw.gateway_id in logged_in.get(response.url).content.decode()
    assert gw.gateway_id in logged_in.get(reverse("accounts:menu")).content.decode()


def test_add_gateway_refusals(logged_in):
    gw = factories.gateway()
    page = logged_in.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": "nope12345"},
    ).content.decode()
    assert WRONG_CREDENTIALS in page
    claimed = factories.gateway(state="claimed", owner=factories.customer())
    page = logged_in.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": claimed.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    ).content.decode()
    assert UNAVAILABLE in page
    # skipping ahead without the first step goes back to it
    assert logged_in.get(reverse("accounts:gateway_add_site")).url == reverse(
        "accounts:gateway_add"
    )


def test_a_dealer_cannot_claim_a_gateway(client):
    dealer = factories.dealer()
    gw = factories.gateway()
    client.force_login(dealer.user)
    response = client.post(
        reverse("accounts:gateway_add"),
        {"gateway_id": gw.gateway_id, "gateway_password": factories.GATEWAY_PASSWORD},
    )
    assert response.url == reverse("dealers:menu")
    with pytest.raises(GatewayError):
        add_gateway(
            user=dealer.user,
            gateway_id=gw.gateway_id,
            gateway_password=factories.GATEWAY_PASSWORD,
            site=SiteInput(name="x", postal_code="6008216", prefecture="京都府", address_rest="1"),
            client_address="192.0.2.1",
        )
    gw.refresh_from_db()
    assert gw.state == Gateway.State.UNCLAIMED and gw.owner is None


def test_an_operator_cannot_reach_the_customer_gateway_screens(client):
    operator = factories.customer(role="operator", is_staff=True, is_superuser=True)
    client.force_login(operator)
    response = client.get(reverse("accounts:gateway_add"))
    assert response.status_code == 302 and response["Location"] == reverse("accounts:menu")


def test_profile_change(logged_in, user):
    data = {
        **{
            k: v
            for k, v in factories.REGISTRATION_FORM.items()
            if not k.startswith(("site_", "gateway", "email"))
        },
        "name": "御室 花",
        "phone": "075-123-4567",
        "company_name": "御室商事",
    }
    assert logged_in.post(reverse("accounts:profile"), data).url == reverse("accounts:account")
    user.refresh_from_db()
    assert (
        user.name == "御室 花" and user.phone == "+81751234567" and user.company_name == "御室商事"
    )
    page = logged_in.get(reverse("accounts:account")).content.decode()
    assert "075-123-4567" in page and "御室商事" in page
    bad = logged_in.post(reverse("accounts:profile"), {**data, "furigana": "abc"}).content.decode()
    assert "フリガナはカタカナで入力してください。" in bad


def test_email_change_needs_the_link_from_the_new_address(logged_in, user):
    response = logged_in.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "new@example.jp",
            "email_confirm": "new@example.jp",
        },
    )
    assert "new@example.jp" in response.content.decode()
    user.refresh_from_db()
    assert user.email == "hanako@example.jp"  # not until confirmed
    (confirm,) = mail.outbox
    assert confirm.to == ["new@example.jp"]
    link = confirm.body.split("http://testserver")[1].split()[0]
    assert logged_in.get(link).url == reverse("accounts:account")
    user.refresh_from_db()
    assert user.email == "new@example.jp"
    assert mail.outbox[1].to == ["hanako@example.jp"]  # the old address is told
    assert logged_in.get(link).status_code == 410


def test_email_change_to_a_taken_address_does_not_reveal_it(logged_in, user):
    other = factories.customer(email="taken@example.jp")
    response = logged_in.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "taken@example.jp",
            "email_confirm": "taken@example.jp",
        },
    )
    assert "確認メールを送信しました" in response.content.decode()
    assert [m.to for m in mail.outbox] == [[other.email]]
    user.refresh_from_db()
    assert user.email == "hanako@example.jp"


def test_password_change_ends_other_sessions(user):
    this, other = Client(), Client()
    for c in (this, other):
        c.post(
            reverse("accounts:login"), {"email": user.email, "password": factories.USER_PASSWORD}
        )
        assert c.get(reverse("accounts:menu")).status_code == 200
    page = this.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password": "NewSolar2025x",
            "new_password_confirm": "NewSolar2025x",
        },
    ).content.decode()
    assert "現在のパスワードが正しくありません。" in page
    response = this.post(
        reverse("accounts:password_change"),
        {
            "old_password": factories.USER_PASSWORD,
            "new_password": "NewSolar2025x",
            "new_password_confirm": "NewSolar2025x",
        },
    )
    assert response.url == reverse("accounts:account")
    assert this.get(reverse("accounts:menu")).status_code == 200
    assert other.get(reverse("accounts:menu")).status_code == 302  # logged out


def test_password_change_ends_a_pending_email_change(client):
    user = factories.customer(email="hanako@example.jp")
    client.force_login(user)
    client.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "attacker@example.jp",
            "email_confirm": "attacker@example.jp",
        },
    )
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    client.post(
        reverse("accounts:password_change"),
        {
            "old_password": factories.USER_PASSWORD,
            "new_password": "NewSolar2025x",
            "new_password_confirm": "NewSolar2025x",
        },
    )
    assert client.get(link).status_code == 410
    user.refresh_from_db()
    assert user.email == "hanako@example.jp"


def test_logout(logged_in):
    assert logged_in.post(reverse("accounts:logout")).url == reverse("accounts:login")
    assert logged_in.get(reverse("accounts:menu")).status_code == 302


def test_login_next_only_to_this_site(client, user):
    response = client.post(
        reverse("accounts:login"),
        {"email": user.email, "password": factories.USER_PASSWORD, "next": "https://evil.example/"},
    )
    assert response.url == reverse("accounts:menu")


def test_login_starts_a_clean_session_on_a_shared_browser(client):
    gw = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    data = {**factories.REGISTRATION_FORM, "gateway_id": gw.gateway_id, "name": "前の人 太郎"}
    client.post(reverse("accounts:entry_form"), data)
    assert client.session["registration_form"]["name"] == "前の人 太郎"  # the control
    other = factories.customer(email="next@example.jp")
    client.post(
        reverse("accounts:login"), {"email": other.email, "password": factories.USER_PASSWORD}
    )
    assert client.get(reverse("accounts:menu")).status_code == 200
    assert "registration_form" not in client.session
    assert "registration_terms_id" not in client.session


def test_manual_and_sample_are_public(client):
    manual = client.get(reverse("accounts:manual")).content.decode()
    assert "商品マニュアル" in manual and "ゲートウェイの登録" in manual
    sample = client.get(reverse("accounts:sample_sheet")).content.decode()
    assert "<svg" in sample and "ゲートウェイID" in sample


def test_operator_sees_the_outbox_in_admin_but_no_body(client):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser(
        "op@example.jp", "OpPass2024x", name="運営"
    )
    factories.customer()
    client.force_login(operator)
    from essmon.notifications.models import OutboxMessage

    message = OutboxMessage.objects.create(
        recipient="a@example.jp", subject="件名", body="本文 /activate/xyz/"
    )
    page = client.get(
        reverse("admin:notifications_outboxmessage_change", args=[message.pk])
    ).content.decode()
    assert "a@example.jp" in page and "件名" in page
    assert "/activate/xyz/" not in page  # the body (with its token links) is never shown
    assert client.get(reverse("admin:gateways_gateway_changelist") + "?q=01AB").status_code == 200
    assert client.get(reverse("admin:accounts_user_changelist") + "?q=hanako").status_code == 200


def test_manual_states_this_installations_limits(client, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 7
    settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY = 4
    settings.MAIL_REQUESTS_PER_CLIENT_PER_HOUR = 25
    manual = client.get(reverse("accounts:manual")).content.decode()
    assert "ログインに7回続けて失敗すると" in manual
    assert "1日4通まで、同じ接続元からは1時間25通まで" in manual
    assert "現在のパスワードを入力します" in manual
