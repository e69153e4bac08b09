"""販売店様: registration and activation, the dealer menu, 保守担当者, and the entrusted
gateways with the customer's data, through the Django test client."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from essmon.accounts.models import AccountToken, User
from essmon.accounts.services.changes import confirm_email_change, request_email_change
from essmon.dealers import services
from essmon.dealers.models import (
    MAX_STAFF_PER_DEALER,
    Dealer,
    DealerAccess,
    DealerLink,
    MaintenanceStaff,
)
from tests import factories
from tests.factories import DEALER_FORM

pytestmark = pytest.mark.django_db

PASSWORD = "Dealer2024Kyoto"


def agree_terms(client):
    response = client.post(reverse("dealers:entry_terms"))
    assert response.url == reverse("dealers:entry_form")


def post_form(client, **overrides):
    return client.post(reverse("dealers:entry_form"), {**DEALER_FORM, **overrides})


def register(client, **overrides):
    agree_terms(client)
    response = post_form(client, **overrides)
    assert response.status_code == 302, response.content.decode()
    assert response.url == reverse("dealers:entry_confirm")
    return client.post(reverse("dealers:entry_confirm"), {"register": "1"})


def link_in(message, pattern: str) -> str:
    return re.search(r"http://testserver(" + pattern + r")", message.body).group(1)


def activate(client, link: str, phone: str = "0751112222"):
    client.post(link)
    return client.post(
        link + "password/", {"password": PASSWORD, "password_confirm": PASSWORD, "phone": phone}
    )


def page_of(response) -> str:
    return response.content.decode()


# --- 販売店様の登録 --------------------------------------------------------------------


def test_landing_offers_dealer_registration(client):
    page = page_of(client.get(reverse("accounts:landing")))
    assert reverse("dealers:entry_terms") in page and "販売店様の登録" in page


def test_dealers_agree_to_their_own_terms_with_the_customers_data_rules(client):
    """The dealer's terms were the customer's word for word (issue 12 §6): a dealer given
    customers' personal data agrees to how it must handle it."""
    page = page_of(client.get(reverse("dealers:entry_terms")))
    assert "利用規約" in page and "同意する" in page
    assert f'action="{reverse("dealers:entry_terms")}"' in page
    assert "遠隔モニタリングサービス 販売店様利用規約" in page
    for rule in (
        "のためにのみ利用し",
        "紐付けられたゲートウェイ以外の情報を取得しようとしてはならず",
        "秘密として扱い",
        "従業者の監督",
        "第三者に提供してはなりません",
        "直ちに当社に報告し",
        "遅滞なく削除または廃棄",
        "販売店様による閲覧・変更の記録",
    ):
        assert rule in page, rule
    assert "お客様は本規約に同意のうえ" not in page  # not the customer's text
    customer = page_of(client.get(reverse("accounts:entry_terms")))
    assert "販売店様利用規約" not in customer and "お客様は本規約に同意のうえ" in customer


def test_a_dealer_registers_and_activates_under_the_dealer_terms(client):
    from essmon.accounts.models import TermsAcceptance

    register(client)
    link = link_in(mail.outbox[0], r"/activate/[^/\s]+/")
    assert "販売店様利用規約" in page_of(client.get(link))
    assert activate(client, link).url == reverse("accounts:activate_done")
    accepted = TermsAcceptance.objects.filter(user__email=DEALER_FORM["email"])
    assert accepted.count() == 2
    assert {a.terms.audience for a in accepted} == {"dealer"}


def test_form_requires_terms_first(client):
    assert client.get(reverse("dealers:entry_form")).url == reverse("dealers:entry_terms")
    assert client.get(reverse("dealers:entry_confirm")).url == reverse("dealers:entry_form")


def test_form_labels_every_field(client):
    agree_terms(client)
    page = page_of(client.get(reverse("dealers:entry_form")))
    for name, label in [
        ("company_name", "販売店名"),
        ("branch", "支店・部署名"),
        ("name", "担当者 氏名"),
        ("furigana", "担当者 フリガナ"),
        ("email", "メールアドレス"),
        ("email_confirm", "メールアドレス(確認用)"),
        ("postal_code", "郵便番号"),
        ("prefecture", "都道府県"),
        ("city", "市町村区"),
        ("address_rest", "それ以降の住所"),
        ("phone", "電話番号"),
    ]:
        assert f'<label for="id_{name}">{label}<span' in page, name
    assert "販売店IDとこの電話番号" in page
    assert 'aria-describedby="id_phone_helptext"' in page and 'id="id_phone_helptext"' in page
    assert "住所検索" in page
    assert 'name="department"' not in page


def test_registration_mails_link_with_dealer_id(client):
    response = register(client)
    assert response.url == reverse("dealers:entry_done")
    done = page_of(client.get(response.url))
    assert "仮登録完了" in done and DEALER_FORM["email"] in done

    dealer = Dealer.objects.select_related("user").get()
    user = dealer.user
    assert user.role == User.Role.DEALER and not user.is_active and user.is_provisional
    assert (dealer.company_name, dealer.branch) == ("京都蓄電サービス株式会社", "京都支店")
    assert re.fullmatch(r"D\d{7}", dealer.dealer_code)
    assert user.furigana == "ハンバイ　イチロウ" and user.phone == "+81751112222"
    staff = dealer.staff.get()
    assert staff.email == user.email and staff.confirmed_at is None

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [DEALER_FORM["email"]]
    assert "販売店" in message.subject and "仮登録" in message.subject
    # the address is not confirmed yet: nothing the visitor typed (names, 販売店名, phone)
    assert message.body.startswith("販売店様のご担当者様へ")
    assert "販売 一郎" not in message.body and "京都蓄電" not in message.body
    assert f"販売店ID: {dealer.dealer_code}" in message.body
    assert "まで有効です" in message.body
    assert "ユーザ ID は、本メールを送信させて頂いている宛先のメールアドレス" in message.body
    assert "075-111-2222" not in message.body and "お申し込み時に入力した電話番号" in message.body
    assert link_in(message, r"/activate/[^/\s]+/")


def test_activation_confirms_first_staff_and_login_lands_on_dealer_menu(client):
    register(client)
    link = link_in(mail.outbox[0], r"/activate/[^/\s]+/")
    assert "同意する" in page_of(client.get(link))

    wrong = activate(client, link, phone="075-999-9999")
    assert wrong.status_code == 200 and "電話番号がご登録の番号と一致しません" in page_of(wrong)
    assert not User.objects.get(email=DEALER_FORM["email"]).is_active

    response = activate(client, link)
    assert response.url == reverse("accounts:activate_done")
    dealer = Dealer.objects.select_related("user").get()
    assert dealer.user.is_active
    assert dealer.staff.get().confirmed_at is not None

    response = client.post(
        reverse("accounts:login"), {"email": DEALER_FORM["email"], "password": PASSWORD}
    )
    assert response.url == reverse("accounts:menu")
    response = client.get(response.url)
    assert response.url == reverse("dealers:menu")
    page = page_of(client.get(response.url))
    assert "販売店様メニュー" in page and dealer.dealer_code in page
    assert "京都蓄電サービス株式会社" in page and "京都支店" in page and "販売 一郎" in page
    assert reverse("dealers:staff") in page and reverse("dealers:gateways") in page


def test_back_keeps_input(client):
    agree_terms(client)
    post_form(client)
    response = client.post(reverse("dealers:entry_confirm"), {"back": "1"})
    assert response.url == reverse("dealers:entry_form")
    page = page_of(client.get(response.url))
    assert 'value="京都蓄電サービス株式会社"' in page and 'value="京都支店"' in page
    assert f'value="{DEALER_FORM["email"]}"' in page
    assert not User.objects.exists() and mail.outbox == []


def test_confirm_page_shows_input(client):
    agree_terms(client)
    post_form(client, branch="")
    page = page_of(client.get(reverse("dealers:entry_confirm")))
    assert "入力内容確認" in page and "京都蓄電サービス株式会社" in page
    assert "ハンバイ　イチロウ" in page and "075-111-2222" in page
    assert ">登録</button>" in page and ">前に戻る</button>" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("company_name", "", "このフィールドは必須です。"),
        ("company_name", "   ", "このフィールドは必須です。"),
        ("name", "", "このフィールドは必須です。"),
        ("furigana", "Hanbai", "フリガナはカタカナで入力してください。"),
        ("email", "not-an-address", "有効なメールアドレスを入力してください。"),
        ("email_confirm", "other@example.jp", "メールアドレスが一致しません。"),
        ("postal_code", "60082", "郵便番号は7桁の数字で入力してください"),
        ("prefecture", "カリフォルニア", "正しく選択してください。"),
        ("city", "", "このフィールドは必須です。"),
        ("phone", "12345", "電話番号は数字とハイフンで入力してください"),
        ("phone", "+1 650 253 0000", "日本国内の電話番号を入力してください。"),
    ],
)
def test_bad_input_is_refused_next_to_field(client, field, value, message):
    agree_terms(client)
    response = post_form(client, **{field: value})
    assert response.status_code == 200
    page = page_of(response)
    assert message in page
    block = page.split(f'<label for="id_{field}">', 1)[1].split('<div class="field', 1)[0]
    assert message in block  # next to its field
    assert "入力内容に誤りがあります" in page
    assert 'value="京都蓄電サービス株式会社"' in page or field == "company_name"
    assert not User.objects.exists() and not Dealer.objects.exists() and mail.outbox == []


def test_postal_lookup_without_javascript(client):
    agree_terms(client)
    data = {**DEALER_FORM, "prefecture": "", "city": "", "lookup": "user"}
    page = page_of(client.post(reverse("dealers:entry_form"), data))
    assert '<option value="京都府" selected>' in page and 'value="京都市下京区"' in page
    assert 'value="京都蓄電サービス株式会社"' in page
    assert not User.objects.exists()


def test_existing_address_gets_same_answer_and_a_notice(client):
    existing = factories.dealer(email=DEALER_FORM["email"])
    response = register(client)
    assert response.url == reverse("dealers:entry_done")
    assert Dealer.objects.count() == 1 and User.objects.count() == 1
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "すでに販売店様のアカウントがございます" in body
    assert "販売店様メニュー" in body and existing.dealer_code in body
    assert "2台目以降のゲートウェイ" not in body


def test_customer_address_cannot_become_a_dealer(client):
    factories.customer(email=DEALER_FORM["email"])
    register(client)
    assert not Dealer.objects.exists()
    body = mail.outbox[0].body
    assert "2台目以降のゲートウェイ" in body and "別のメールアドレス" in body


# --- 販売店様メニュー ------------------------------------------------------------------


@pytest.fixture
def dealer():
    return factories.dealer(code="D1234567")


@pytest.fixture
def dealer_client(client, dealer):
    client.force_login(dealer.user)
    return client


def test_menu_requires_login(client):
    response = client.get(reverse("dealers:menu"))
    assert response.status_code == 302 and reverse("accounts:login") in response.url


@pytest.mark.parametrize(
    "url",
    [
        reverse("dealers:menu"),
        reverse("dealers:staff"),
        reverse("dealers:gateways"),
    ],
)
def test_non_dealers_get_404(client, url):
    client.force_login(factories.customer())
    assert client.get(url).status_code == 404
    client.force_login(factories.customer(role=User.Role.OPERATOR, is_staff=True))
    assert client.get(url).status_code == 404


def test_customer_menu_is_unchanged_for_customers(client):
    client.force_login(factories.customer())
    assert client.get(reverse("accounts:menu")).status_code == 200


# --- 保守担当者 ------------------------------------------------------------------------


def test_staff_list_shows_state(dealer_client, dealer):
    MaintenanceStaff.objects.create(dealer=dealer, name="保守 次郎", email="jiro@dealer.jp")
    page = page_of(dealer_client.get(reverse("dealers:staff")))
    assert "販売 一郎" in page and dealer.user.email in page and "確認済み" in page
    assert "保守 次郎" in page and "jiro@dealer.jp" in page and "確認待ち" in page
    assert '<label for="id_name">氏名' in page and '<label for="id_email">メールアドレス' in page


def test_add_staff_mails_link_and_confirm_page(dealer_client, client, dealer):
    response = dealer_client.post(
        reverse("dealers:staff"), {"name": "保守　太郎", "email": "taro@dealer.jp"}
    )
    assert response.url == reverse("dealers:staff")
    staff = dealer.staff.get(email="taro@dealer.jp")
    assert staff.name == "保守 太郎" and staff.confirmed_at is None
    assert "taro@dealer.jp" in page_of(dealer_client.get(response.url))

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["taro@dealer.jp"]
    assert message.body.startswith("保守担当者としてご登録いただいた方へ")
    assert "保守 太郎" not in message.body and dealer.company_name not in message.body
    assert dealer.dealer_code in message.body
    assert "まで有効です" in message.body
    link = link_in(message, r"/dealer/staff/confirm/[^/\s]+/")

    dealer_client.logout()  # the staff member has no login: the page is public
    response = client.get(link)
    assert response.status_code == 200 and "確認しました" in page_of(response)
    staff.refresh_from_db()
    assert staff.confirmed_at is not None
    assert services.alert_recipients(dealer=dealer) == [dealer.user.email, "taro@dealer.jp"]
    again = client.get(link)  # opening it again just shows it confirmed
    assert again.status_code == 200 and "確認しました" in page_of(again)


def test_bad_or_expired_staff_link_is_410(client, dealer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff = services.add_staff(
            dealer=dealer, name="保守 太郎", email="taro@dealer.jp", client_address="192.0.2.1"
        )
    response = client.get(reverse("dealers:staff_confirm", kwargs={"token": "nope"}))
    assert response.status_code == 410 and "無効" in page_of(response)
    raw = re.search(r"/staff/confirm/([^/\s]+)/", mail.outbox[-1].body)  # as delivered
    MaintenanceStaff.objects.filter(pk=staff.pk).update(
        token_expires_at=timezone.now() - timedelta(seconds=1)
    )
    url = reverse("dealers:staff_confirm", kwargs={"token": raw.group(1)})
    assert client.get(url).status_code == 410
    staff.refresh_from_db()
    assert staff.confirmed_at is None


def test_duplicate_staff_address_is_refused(dealer_client, dealer):
    response = dealer_client.post(
        reverse("dealers:staff"), {"name": "同じ人", "email": dealer.user.email.upper()}
    )
    assert response.status_code == 200
    assert "このメールアドレスはすでに登録されています。" in page_of(response)
    assert dealer.staff.count() == 1 and mail.outbox == []


def test_staff_form_errors_are_japanese(dealer_client, dealer):
    response = dealer_client.post(reverse("dealers:staff"), {"name": "", "email": "x"})
    page = page_of(response)
    assert "このフィールドは必須です。" in page
    assert "有効なメールアドレスを入力してください。" in page
    assert dealer.staff.count() == 1


def test_staff_limit(dealer_client, dealer):
    for n in range(MAX_STAFF_PER_DEALER - 1):
        MaintenanceStaff.objects.create(dealer=dealer, name=f"担当{n}", email=f"s{n}@dealer.jp")
    page = page_of(dealer_client.get(reverse("dealers:staff")))
    assert f"{MAX_STAFF_PER_DEALER}名まで登録できます" in page
    assert 'id="id_email"' not in page  # no add form at the limit
    response = dealer_client.post(
        reverse("dealers:staff"), {"name": "21人目", "email": "s21@dealer.jp"}
    )
    assert f"保守担当者は{MAX_STAFF_PER_DEALER}名まで登録できます。" in page_of(response)
    assert dealer.staff.count() == MAX_STAFF_PER_DEALER and mail.outbox == []


def test_last_staff_cannot_be_removed(dealer_client, dealer):
    only = dealer.staff.get()
    url = reverse("dealers:staff_remove", kwargs={"staff_id": only.pk})
    assert dealer_client.get(url).status_code == 405
    response = dealer_client.post(url, follow=True)
    assert "保守担当者は1名以上必要です。" in page_of(response)
    assert dealer.staff.filter(pk=only.pk).exists()


def test_remove_staff(dealer_client, dealer):
    other = MaintenanceStaff.objects.create(dealer=dealer, name="保守 次郎", email="j@dealer.jp")
    response = dealer_client.post(
        reverse("dealers:staff_remove", kwargs={"staff_id": other.pk}), follow=True
    )
    assert "保守担当者を削除しました。" in page_of(response)
    assert list(dealer.staff.values_list("email", flat=True)) == [dealer.user.email]


def test_cannot_remove_another_dealers_staff(dealer_client, dealer):
    stranger = factories.dealer()
    MaintenanceStaff.objects.create(dealer=stranger, name="他社", email="other@x.jp")
    target = stranger.staff.first()
    response = dealer_client.post(reverse("dealers:staff_remove", kwargs={"staff_id": target.pk}))
    assert response.status_code == 404  # another dealer's staff does not exist for this one
    assert stranger.staff.count() == 2


# --- 保守を任されているゲートウェイ ------------------------------------------------------


def entrust(dealer, **kwargs):
    owner = factories.customer(
        name=kwargs.pop("owner_name", "御室 花子"), company_name="御室商事", department="総務部"
    )
    gw = factories.owned_gateway(owner=owner, site_name=kwargs.pop("site_name", "御室邸"))
    link = DealerLink.objects.create(gateway=gw, dealer=dealer, created_by=owner, **kwargs)
    return gw, link


def test_entrusted_list(dealer_client, dealer):
    gw, link = entrust(dealer, created_at=timezone.now() - timedelta(days=3))
    ended, _ = entrust(dealer, site_name="旧案件", ended_at=timezone.now(), owner_name="解除 済子")
    others, _ = entrust(factories.dealer(), site_name="他社案件", owner_name="他社 顧客")
    factories.owned_gateway(site_name="無関係邸")

    page = page_of(dealer_client.get(reverse("dealers:gateways")))
    assert gw.gateway_id in page and "御室邸" in page and "御室 花子" in page
    assert gw.site.address in page
    assert timezone.localtime(link.created_at).strftime("%Y年%-m月%-d日") in page
    assert reverse("dealers:gateway_customer", kwargs={"gateway_id": gw.gateway_id}) in page
    for hidden in (ended.gateway_id, "旧案件", "解除 済子", others.gateway_id, "他社案件"):
        assert hidden not in page
    assert "無関係邸" not in page

    menu = page_of(dealer_client.get(reverse("dealers:menu")))
    assert "1台" in menu


def test_entrusted_list_empty(dealer_client):
    page = page_of(dealer_client.get(reverse("dealers:gateways")))
    assert "保守を任されているゲートウェイはありません" in page


def test_customer_page_shows_only_shared_items_and_is_logged(dealer_client, dealer):
    gw, _ = entrust(dealer)
    owner = gw.owner
    url = reverse("dealers:gateway_customer", kwargs={"gateway_id": gw.gateway_id})
    page = page_of(dealer_client.get(url))
    for value in (
        owner.name,
        owner.furigana,
        "御室商事",
        "総務部",
        "〒600-8216",
        "京都市下京区東塩小路町1-1",
        "090-1234-5678",
        owner.email,
        "御室邸",
    ):
        assert value in page, value
    for label in ("氏名", "フリガナ", "法人名", "部署名", "住所", "電話番号", "メールアドレス"):
        assert f"<dt>{label}</dt>" in page
    # read-only: no forms of its own, nothing about passwords or the links
    content = page.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<form" not in content and "<input" not in content
    assert "パスワード" not in content and owner.password not in page
    assert gw.password_hash not in page

    access = DealerAccess.objects.get()
    assert (access.dealer, access.gateway, access.action) == (
        dealer,
        gw,
        DealerAccess.Action.VIEW_CUSTOMER,
    )
    dealer_client.get(url)  # a reload within the hour is counted on the same row
    assert DealerAccess.objects.get().count == 2


def test_customer_page_404_for_others(client, dealer):
    gw, _ = entrust(dealer)
    url = reverse("dealers:gateway_customer", kwargs={"gateway_id": gw.gateway_id})
    for user in (factories.dealer().user, gw.owner, factories.customer()):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 404
        assert gw.owner.email not in page_of(response)
    client.logout()
    assert client.get(url).status_code == 302
    missing = reverse("dealers:gateway_customer", kwargs={"gateway_id": "01AB99999999"})
    client.force_login(dealer.user)
    assert client.get(missing).status_code == 404
    assert not DealerAccess.objects.exists()


def test_unlinked_dealer_loses_access_on_next_request(dealer_client, dealer):
    gw, _ = entrust(dealer)
    url = reverse("dealers:gateway_customer", kwargs={"gateway_id": gw.gateway_id})
    assert dealer_client.get(url).status_code == 200
    services.unlink_dealer(customer=gw.owner, gateway=gw, dealer=dealer)
    response = dealer_client.get(url)
    assert response.status_code == 404 and gw.owner.email not in page_of(response)
    assert gw.gateway_id not in page_of(dealer_client.get(reverse("dealers:gateways")))
    assert DealerAccess.objects.count() == 1


def test_dealer_edits_its_profile(dealer_client, dealer):
    url = reverse("dealers:profile")
    page = page_of(dealer_client.get(url))
    assert "販売店名" in page and dealer.company_name in page
    data = {
        "company_name": "新・京都蓄電",
        "branch": "伏見営業所",
        "name": "販売 二郎",
        "furigana": "はんばい じろう",
        "postal_code": "600-8216",
        "prefecture": "京都府",
        "city": "京都市下京区",
        "address_rest": "1-1",
        "phone": "075-999-0000",
    }
    assert dealer_client.post(url, data).url == reverse("dealers:menu")
    dealer.refresh_from_db()
    dealer.user.refresh_from_db()
    assert (dealer.company_name, dealer.branch) == ("新・京都蓄電", "伏見営業所")
    assert dealer.user.phone == "+81759990000" and dealer.user.furigana == "ハンバイ　ジロウ"
    bad = page_of(dealer_client.post(url, {**data, "phone": "123"}))
    assert "電話番号は数字とハイフンで入力してください" in bad
    # the customer's account pages send a dealer to its own
    assert dealer_client.get(reverse("accounts:account")).url == reverse("dealers:menu")
    assert dealer_client.get(reverse("accounts:profile")).url == reverse("dealers:profile")


def test_customer_cannot_open_dealer_profile(client):
    client.force_login(factories.customer())
    assert client.get(reverse("dealers:profile")).status_code == 404


def test_an_address_change_takes_the_person_in_charge_along(dealer):
    """accounts tells dealers through a signal (essmon/accounts/signals.py): the link from
    the new address proved it, so the dealer's mails go there, and another staff's stay."""
    other = MaintenanceStaff.objects.create(
        dealer=dealer, name="保守 次郎", email="jiro@example.jp", confirmed_at=timezone.now()
    )
    request_email_change(
        user=dealer.user, new_email="new-dealer@example.jp", client_address="192.0.2.1"
    )
    token = AccountToken.objects.get(user=dealer.user, purpose=AccountToken.Purpose.EMAIL_CHANGE)
    confirm_email_change(token=token)
    emails = set(MaintenanceStaff.objects.filter(dealer=dealer).values_list("email", flat=True))
    assert emails == {"new-dealer@example.jp", other.email}


def test_a_dealers_new_address_keeps_receiving_its_mails(client):
    dealer = factories.dealer(email="old@dealer.jp")
    client.force_login(dealer.user)
    client.post(
        reverse("accounts:email_change"),
        {
            "current_password": factories.USER_PASSWORD,
            "email": "new@dealer.jp",
            "email_confirm": "new@dealer.jp",
        },
    )
    link = mail.outbox[-1].body.split("http://testserver")[1].split()[0]
    client.get(link)
    assert services.alert_recipients(dealer=dealer) == ["new@dealer.jp"]
