"""サポートデスク (issue 14): the search ignores kana, width and the way a phone number is
written; each action does what its service does and is recorded with the operator and the
reason, refusals too; support and administration operators use it, nobody else finds it."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import AccountToken, User
from essmon.gateways.models import Gateway, GatewayReplacement, Site
from essmon.support.models import SupportAction
from tests import factories, journeys

pytestmark = pytest.mark.django_db

Action = SupportAction.Action


@pytest.fixture
def support(client):
    operator = factories.support_operator()
    client.force_login(operator)
    client.operator = operator
    return client


def search(client, q: str) -> str:
    response = client.get(reverse("support:search"), {"q": q})
    assert response.status_code == 200, response.content.decode()[:500]
    return response.content.decode()


def person_url(user: User) -> str:
    return reverse("support:person", kwargs={"user_id": user.pk})


# --- the search -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q", ["ヤマシナ", "やましな", "ｙａｍａ", "ﾔﾏｼﾅ", "ヤマシナ ジロウ", "やましな　じろう"]
)
def test_the_reading_is_found_in_any_kana_and_width(support, q):
    person = factories.customer(name="山科 次郎", furigana="ヤマシナ　ジロウ", email="yama@ex.jp")
    if q == "ｙａｍａ":  # full-width letters: the mail address
        assert person_url(person) in search(support, q)
        return
    body = search(support, q)
    assert person_url(person) in body
    assert "フリガナ" in body  # the kind of hit: which field matched


@pytest.mark.parametrize("q", ["サクラ", "さくら", "ｻｸﾗ"])
def test_a_name_stored_in_hiragana_is_found_in_katakana_and_back(support, q):
    person = factories.customer(name="さくら はるこ", furigana="サクラ　ハルコ")
    other = factories.customer(name="桜井 春子", furigana="サクライ　ハルコ")
    body = search(support, q)
    assert person_url(person) in body
    assert person_url(other) in body  # サクライ contains サクラ: the reading matches too


@pytest.mark.parametrize(
    "q",
    ["090-1234-5678", "09012345678", "０９０－１２３４－５６７８", "+81 90 1234 5678", "1234-5678"],
)
def test_a_phone_number_is_found_however_it_is_written(support, q):
    person = factories.customer(name="電話 太郎", phone="+819012345678")
    body = search(support, q)
    assert person_url(person) in body
    assert "電話番号" in body


def test_gateway_id_mail_and_address_are_found(support):
    owner = factories.customer(name="住所 花子", email="Hanako.Addr@example.jp")
    gateway = factories.owned_gateway(owner=owner, site_name="嵐山の家")
    gateway_url = reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id})
    full_width_id = gateway.gateway_id.lower().translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789abcdefghijklmnopqrstuvwxyz"}
    )
    assert gateway_url in search(support, full_width_id)
    assert person_url(owner) in search(support, "hanako.addr@EXAMPLE.jp")
    assert gateway_url in search(support, "嵐山の家")
    body = search(support, "京都市下京区東塩小路町")
    assert person_url(owner) in body and gateway_url in body


def test_operators_are_not_found_and_nothing_for_nothing(support):
    admin = factories.admin_operator(name="管理 検索されない")
    body = search(support, "検索されない")
    assert "検索結果 0件" in body and person_url(admin) not in body
    body = search(support, "")
    assert "検索結果" not in body


@pytest.mark.parametrize("q", ["x" * 101, "abc\x00def", "ab\x1bc"])
def test_hostile_input_gets_a_japanese_message(support, q):
    response = support.get(reverse("support:search"), {"q": q})
    assert response.status_code == 400
    body = response.content.decode()
    assert "100文字以内" in body or "制御文字" in body


def test_results_are_paginated(support):
    for n in range(25):
        factories.customer(name=f"頁送り {n}", furigana="ページ　オクリ")
    body = search(support, "ぺーじ")
    assert "1 / 2ページ" in body
    page2 = support.get(reverse("support:search"), {"q": "ぺーじ", "page": 2}).content.decode()
    assert "2 / 2ページ" in page2


# --- the pages ----------------------------------------------------------------------------


def test_the_person_page_shows_state_gateways_links_alerts_and_mails(support):
    owner = factories.customer(name="詳細 花子", email="detail@example.jp")
    gateway = factories.owned_gateway(owner=owner, site_name="詳細の家")
    dealer = factories.dealer(company="洛西電設")
    from essmon.alerts.models import Alert
    from essmon.dealers.services.links import link_dealer
    from essmon.notifications.services import queue_mail

    link_dealer(customer=owner, gateway=gateway, dealer=dealer)
    Alert.objects.create(
        gateway=gateway, kind="offline", severity="major", title="通信途絶中", since=timezone.now()
    )
    queue_mail(recipient=owner.email, kind="account_locked", context={"user": owner, "token": "t"})
    body = support.get(person_url(owner)).content.decode()
    for text in ("本登録済み", gateway.gateway_id, "詳細の家", "洛西電設", "通信途絶中"):
        assert text in body, text
    assert "アカウントのロック" in body  # the mail's kind, never its body
    assert "/unlock/t" not in body


# --- the actions -------------------------------------------------------------------------


def provisional(client):
    """A customer registered through the pages, not yet activated: the account and its
    held gateway."""
    gateway = factories.gateway()
    journeys.register(client, gateway)
    return User.objects.get(email=factories.REGISTRATION_FORM["email"]), gateway


def test_resending_the_provisional_mail_sends_a_fresh_link_and_records_it(client):
    person, _ = provisional(client)
    first = AccountToken.objects.get(user=person, purpose=AccountToken.Purpose.ACTIVATION)
    operator = factories.support_operator()
    client.force_login(operator)
    url = reverse("support:resend_provisional", kwargs={"user_id": person.pk})

    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 400
    assert "理由を入力してください。" in refused.content.decode()
    assert not SupportAction.objects.exists()

    sent = len(mail.outbox)
    response = client.post(url, {"reason": "仮登録メールが届かないとお電話"})
    assert response.status_code == 302 and response.url == person_url(person)
    assert len(mail.outbox) == sent + 1
    assert mail.outbox[-1].to == [person.email]
    assert "仮登録のお知らせ" in mail.outbox[-1].subject
    first.refresh_from_db()
    assert not first.is_usable()  # the earlier link stops working
    action = SupportAction.objects.get()
    assert (action.action, action.outcome, action.operator, action.target_user) == (
        Action.RESEND_PROVISIONAL,
        SupportAction.Outcome.DONE,
        operator,
        person,
    )
    assert action.reason == "仮登録メールが届かないとお電話"
    body = client.get(person_url(person)).content.decode()
    assert "仮登録メールが届かないとお電話" in body and "仮登録メールの再送" in body


def test_resending_respects_the_mail_limits_and_records_the_refusal(client, settings):
    settings.MAIL_REQUESTS_PER_RECIPIENT_PER_DAY = 1  # the registration used it up
    person, _ = provisional(client)
    client.force_login(factories.support_operator())
    url = reverse("support:resend_provisional", kwargs={"user_id": person.pk})
    sent = len(mail.outbox)
    response = client.post(url, {"reason": "再送の依頼"})
    assert response.status_code == 400
    assert "しばらく送信を控えています" in response.content.decode()
    assert len(mail.outbox) == sent
    action = SupportAction.objects.get()
    assert action.outcome == SupportAction.Outcome.REFUSED
    assert "控えています" in action.detail


def test_an_active_account_gets_no_provisional_mail(support):
    person = factories.customer()
    url = reverse("support:resend_provisional", kwargs={"user_id": person.pk})
    assert "仮登録中ではない" in support.get(url).content.decode()
    response = support.post(url, {"reason": "念のため"})
    assert response.status_code == 400
    assert SupportAction.objects.get().outcome == SupportAction.Outcome.REFUSED


def test_unlocking_an_account_lets_it_log_in_and_is_recorded(support):
    from django.test import Client

    person = factories.customer(email="locked@example.jp")
    User.objects.filter(pk=person.pk).update(locked_at=timezone.now(), failed_logins=5)
    visitor = Client()
    assert not visitor.login(email=person.email, password=factories.USER_PASSWORD)
    url = reverse("support:unlock", kwargs={"user_id": person.pk})
    response = support.post(url, {"reason": "ご本人確認済み(電話)"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.locked_at is None and person.failed_logins == 0
    assert visitor.login(email=person.email, password=factories.USER_PASSWORD)
    action = SupportAction.objects.get()
    assert (action.action, action.outcome) == (Action.UNLOCK, SupportAction.Outcome.DONE)
    # not locked any more: refused, and recorded as refused
    assert support.post(url, {"reason": "もう一度"}).status_code == 400
    assert SupportAction.objects.filter(outcome=SupportAction.Outcome.REFUSED).count() == 1


def test_releasing_a_held_gateway_returns_it_to_the_pool(client):
    person, gateway = provisional(client)
    gateway.refresh_from_db()
    assert gateway.state == Gateway.State.HELD and gateway.owner == person
    site_id = gateway.site_id
    client.force_login(factories.support_operator())
    url = reverse("support:release_hold", kwargs={"gateway_id": gateway.gateway_id})
    response = client.post(url, {"reason": "別のお客様の用紙で誤って登録"})
    assert response.status_code == 302
    gateway.refresh_from_db()
    assert (gateway.state, gateway.owner, gateway.site, gateway.held_at) == (
        Gateway.State.UNCLAIMED,
        None,
        None,
        None,
    )
    assert not Site.objects.filter(pk=site_id).exists()
    User.objects.get(pk=person.pk)  # the account stays
    action = SupportAction.objects.get()
    assert (action.action, action.target_gateway, action.target_user) == (
        Action.RELEASE_HOLD,
        gateway,
        person,
    )
    # now unclaimed: nothing to release
    assert client.post(url, {"reason": "もう一度"}).status_code == 400


def test_a_reservation_is_released_too(support):
    holder = factories.customer()
    gateway = factories.gateway(state="held", held_at=timezone.now(), reserved_for=holder)
    url = reverse("support:release_hold", kwargs={"gateway_id": gateway.gateway_id})
    assert support.post(url, {"reason": "仮押さえの解除"}).status_code == 302
    gateway.refresh_from_db()
    assert gateway.state == Gateway.State.UNCLAIMED and gateway.reserved_for is None


def test_a_support_operator_starts_and_cancels_a_transfer_from_the_gateway_page(support):
    from essmon.transfers.models import OwnershipTransfer

    owner = factories.customer(email="selling@example.jp")
    gateway = factories.owned_gateway(owner=owner)
    page = support.get(reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id}))
    start = reverse("transfers:operator_start", kwargs={"gateway_id": gateway.gateway_id})
    assert f'href="{start}"' in page.content.decode()
    refused = support.post(start, {"reason": ""})
    assert refused.status_code == 400 and not OwnershipTransfer.objects.exists()
    shown = support.post(start, {"reason": "ご売却(お客様から電話、ご本人確認済み)"})
    assert shown.status_code == 200 and "名義変更コード" in shown.content.decode()
    transfer = OwnershipTransfer.objects.get()
    assert transfer.started_by == support.operator
    assert transfer.started_as == OwnershipTransfer.StartedAs.OPERATOR
    assert transfer.reason.startswith("ご売却")
    assert mail.outbox[-1].to == [owner.email]
    body = support.get(
        reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id})
    ).content.decode()
    cancel = reverse("transfers:operator_cancel", kwargs={"transfer_id": transfer.pk})
    assert "名義変更の記録" in body and "受け取り待ち" in body and f'href="{cancel}"' in body
    assert support.post(cancel, {"reason": "お客様のご依頼で中止"}).status_code == 302
    transfer.refresh_from_db()
    assert transfer.cancelled_by == support.operator and transfer.cancel_reason
    body = support.get(
        reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id})
    ).content.decode()
    assert "取り消し済み" in body and f'href="{cancel}"' not in body


def test_a_support_operator_replaces_a_gateway_with_a_reason(support):
    owner = factories.customer(email="replaced@example.jp")
    old = factories.owned_gateway(owner=owner)
    new = factories.gateway()
    old_id, new_id = old.gateway_id, new.gateway_id
    url = reverse("support:replace", kwargs={"gateway_id": old_id})
    form = {
        "gateway_id": new_id,
        "gateway_password": factories.GATEWAY_PASSWORD,
        "confirm": "on",
        "reason": "",
    }
    refused = support.post(url, form)
    assert refused.status_code == 400 and "理由を入力してください" in refused.content.decode()
    response = support.post(url, {**form, "reason": "電源が入らない(お客様から電話)"})
    assert response.status_code == 302
    assert response.url == reverse("support:gateway", kwargs={"gateway_id": new_id})
    replacement = GatewayReplacement.objects.get()
    assert (replacement.old_gateway_id, replacement.new_gateway_id) == (old_id, new_id)
    assert "サポート担当" in replacement.replaced_by_name or "運営" in replacement.replaced_by_name
    action = SupportAction.objects.get()
    assert action.action == Action.REPLACE_GATEWAY and action.target_label == old_id
    assert f"{old_id} → {new_id}" in action.detail
    assert mail.outbox[-1].to == [owner.email]


def test_a_wrong_sheet_password_is_refused_and_recorded(support):
    old = factories.owned_gateway()
    new = factories.gateway()
    url = reverse("support:replace", kwargs={"gateway_id": old.gateway_id})
    response = support.post(
        url,
        {
            "gateway_id": new.gateway_id,
            "gateway_password": "wrongpassword1",
            "confirm": "on",
            "reason": "故障",
        },
    )
    assert response.status_code == 400
    assert "正しくありません" in response.content.decode()
    assert SupportAction.objects.get().outcome == SupportAction.Outcome.REFUSED


# --- who may use it --------------------------------------------------------------------


def test_administration_operators_use_the_desk_too(client):
    client.force_login(factories.admin_operator())
    person = factories.customer(name="管理から見る")
    assert "管理から見る" in search(client, "管理から見る")
    assert client.get(person_url(person)).status_code == 200


@pytest.mark.parametrize("role", ["customer", "dealer", "viewer"])
def test_anyone_else_finds_nothing(client, role):
    person = factories.customer()
    gateway = factories.owned_gateway(owner=person)
    users = {
        "customer": lambda: person,
        "dealer": lambda: factories.dealer().user,
        "viewer": lambda: factories.viewer(owner=person, gateway=gateway),
    }
    client.force_login(users[role]())
    for url in (
        reverse("support:search"),
        person_url(person),
        reverse("support:unlock", kwargs={"user_id": person.pk}),
        reverse("support:gateway", kwargs={"gateway_id": gateway.gateway_id}),
        reverse("support:replace", kwargs={"gateway_id": gateway.gateway_id}),
        reverse("support:console"),
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"reason": "x"}).status_code == 404, url


def test_support_reads_every_gateway_but_changes_no_settings_and_has_no_admin(support):
    gateway = factories.owned_gateway()
    live = reverse("monitoring:live", kwargs={"gateway_id": gateway.gateway_id})
    assert support.get(live).status_code == 200
    settings_url = reverse("monitoring:settings", kwargs={"gateway_id": gateway.gateway_id})
    page = support.get(settings_url)
    assert page.status_code == 200 and "設定を変更" not in page.content.decode()
    assert support.post(settings_url, {"charge_limit": "80"}).status_code == 405
    assert support.get(reverse("support:console")).status_code == 404
    admin = support.get(reverse("admin:index"))
    assert admin.status_code == 302 and admin.url.startswith(reverse("admin:login"))
    menu = support.get(reverse("accounts:menu")).content.decode()
    assert "サポートデスク" in menu and "製造登録コンソール" not in menu


def test_an_operators_account_is_not_a_desk_page(support):
    admin = factories.admin_operator()
    assert support.get(person_url(admin)).status_code == 404
    assert support.get(person_url(support.operator)).status_code == 404
