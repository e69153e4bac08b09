"""名義変更 for a buyer without an account: the code, the registration's steps without a
gateway sheet, the 仮登録メール, and the claim at the activation (one transaction); a
transfer that ended meanwhile; the code kept nowhere in plain text; the operator's cancel."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse

from essmon.accounts.models import TermsAcceptance, User
from essmon.notifications.models import OutboxMessage
from essmon.transfers import services
from essmon.transfers.models import OwnershipTransfer, TransferRegistration
from essmon.transfers.services import (
    CANCEL_REASON_REQUIRED,
    NOT_CLAIMED_AT_ACTIVATION,
    TOO_MANY_TRIES,
    WRONG_CODE,
    TransferError,
    cancel_transfer,
    start_transfer,
    verify_code_for_registration,
)
from tests import factories

pytestmark = pytest.mark.django_db

PERSON = {
    key: value
    for key, value in factories.REGISTRATION_FORM.items()
    if not key.startswith(("gateway_", "site_"))
} | {"email": "kaite@example.jp", "email_confirm": "kaite@example.jp"}
PASSWORD = {
    "password": "Solar2024Kyoto",
    "password_confirm": "Solar2024Kyoto",
    "phone": "09012345678",
}


@pytest.fixture
def seller():
    return factories.customer(email="seller@example.jp", name="売主 一郎")


@pytest.fixture
def gateway(seller):
    return factories.owned_gateway(owner=seller, site_name="旧宅の蓄電池")


@pytest.fixture
def started(seller, gateway):
    return start_transfer(site=gateway.site, actor=seller)


def operator():
    return factories.customer(
        email="op@example.jp", role="operator", is_staff=True, is_superuser=True
    )


def register_from_code(client: Client, code: str, **person) -> None:
    response = client.post(reverse("transfers:entry"), {"code": code.lower()})
    assert response.status_code == 302 and response.url == reverse("transfers:entry_terms")
    assert client.post(reverse("transfers:entry_terms")).status_code == 302
    response = client.post(reverse("transfers:entry_form"), PERSON | person)
    assert response.status_code == 302, response.content.decode()
    assert response.url == reverse("transfers:entry_confirm")
    page = client.get(reverse("transfers:entry_confirm")).content.decode()
    assert "旧宅の蓄電池" in page and "名義変更で受け取るシステム" in page
    response = client.post(reverse("transfers:entry_confirm"), {"register": "1"})
    assert response.url == reverse("transfers:entry_done")


def activate(client: Client) -> str:
    link = re.search(r"http://testserver(/activate/[^/\s]+/)", mail.outbox[-1].body).group(1)
    client.post(link)  # 同意する
    response = client.post(link + "password/", PASSWORD)
    assert response.url == reverse("accounts:activate_done")
    return client.get(response.url).content.decode()


def test_a_new_buyer_registers_from_the_code_and_claims_at_activation(
    client, seller, gateway, started
):
    register_from_code(client, started.code)
    buyer = User.objects.get(email="kaite@example.jp")
    assert not buyer.is_active
    assert TransferRegistration.objects.get().user == buyer
    gateway.refresh_from_db()
    assert gateway.owner == seller  # nothing moves before the activation
    assert [m.to for m in mail.outbox] == [["kaite@example.jp"]]
    assert "仮登録" in mail.outbox[0].body
    # the code rests nowhere in plain text: session, outbox (sealed or not), mails
    bare = started.code.replace("-", "")
    for session in Session.objects.all():
        decoded = str(session.get_decoded())
        assert bare not in decoded and started.code not in decoded
    for message in OutboxMessage.objects.all():
        assert bare not in str(message.__dict__) and started.code not in str(message.__dict__)

    done = activate(client)
    assert "名義変更の受け取りが完了しました" in done and "旧宅の蓄電池" in done
    buyer.refresh_from_db()
    gateway.refresh_from_db()
    transfer = OwnershipTransfer.objects.get()
    assert buyer.is_active
    assert gateway.owner == buyer and gateway.site.owner == buyer
    assert gateway.owner_since == transfer.claimed_at and transfer.to_owner == buyer
    assert TermsAcceptance.objects.filter(
        user=buyer, context=TermsAcceptance.Context.TRANSFER
    ).exists()
    assert not TransferRegistration.objects.exists()
    for message in mail.outbox:
        assert bare not in message.body and started.code not in message.body


def test_a_transfer_cancelled_before_the_activation_leaves_an_account_without_the_site(
    client, seller, gateway, started
):
    register_from_code(client, started.code)
    cancel_transfer(transfer=started.transfer, actor=seller)
    done = activate(client)
    assert NOT_CLAIMED_AT_ACTIVATION in done.replace("&quot;", '"')
    buyer = User.objects.get(email="kaite@example.jp")
    assert buyer.is_active
    gateway.refresh_from_db()
    assert gateway.owner == seller
    assert OwnershipTransfer.objects.get().claimed_at is None
    assert not OutboxMessage.objects.filter(kind__startswith="transfer_completed").exists()


def test_a_claim_by_someone_else_meanwhile_wins(client, seller, gateway, started):
    register_from_code(client, started.code)
    other = factories.customer(email="other@example.jp")
    services.claim_transfer(
        buyer=other, code=started.code, terms=services.terms_in_force(), client_address=None
    )
    assert "受け取れませんでした" in activate(client)
    gateway.refresh_from_db()
    assert gateway.owner == other


def test_the_steps_need_a_verified_code_and_a_wrong_one_gets_the_one_message(client, started):
    for name in ("transfers:entry_terms", "transfers:entry_form", "transfers:entry_confirm"):
        assert client.get(reverse(name)).url == reverse("transfers:entry")
    for typed in ("AAAA-BBBB-CCCC-DDDD", "\x00\x01", "あ" * 5000, ""):
        response = client.post(reverse("transfers:entry"), {"code": typed})
        assert response.status_code == 400
        assert "名義変更コード" in response.content.decode()
    wrong = client.post(reverse("transfers:entry"), {"code": "AAAA-BBBB-CCCC-DDDD"})
    assert WRONG_CODE in wrong.content.decode()
    # a forged proof in the session is no proof
    session = client.session
    session["transfer_registration_proof"] = {"transfer": started.transfer.pk, "code_hash": "x"}
    session.save()
    assert client.get(reverse("transfers:entry_form")).url == reverse("transfers:entry")


def test_wrong_codes_without_an_account_are_limited_per_client(started):
    for _ in range(services.CODE_FAILURES_PER_ADDRESS):
        with pytest.raises(TransferError):
            verify_code_for_registration(code="AAAA-BBBB-CCCC-DDDD", client_address="192.0.2.9")
    with pytest.raises(TransferError) as paused:
        verify_code_for_registration(code=started.code, client_address="192.0.2.9")
    assert paused.value.message == TOO_MANY_TRIES
    proof = verify_code_for_registration(code=started.code, client_address="198.51.100.1")
    assert proof == {"transfer": started.transfer.pk, "code_hash": started.transfer.code_hash}


def test_a_taken_address_looks_the_same_and_attaches_nothing(client, started):
    factories.customer(email="kaite@example.jp")
    register_from_code(client, started.code)
    assert not TransferRegistration.objects.exists()
    mailed = OutboxMessage.objects.exclude(kind="transfer_started").get()
    assert mailed.kind == "registration_existing_account" and mailed.recipient == "kaite@example.jp"


def test_the_form_validates_as_the_registration_does(client, started):
    client.post(reverse("transfers:entry"), {"code": started.code})
    client.post(reverse("transfers:entry_terms"))
    response = client.post(
        reverse("transfers:entry_form"),
        PERSON | {"email_confirm": "other@example.jp", "phone": "abc", "name": ""},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "メールアドレスが一致しません" in page
    assert "gateway_id" not in page and "site_name" not in page


def test_the_mail_limits_of_the_registration_apply(client, started, settings):
    register_from_code(client, started.code)
    sent = OutboxMessage.objects.count()
    for _ in range(10):
        client.post(reverse("transfers:entry"), {"code": started.code})
        client.post(reverse("transfers:entry_terms"))
        client.post(reverse("transfers:entry_form"), PERSON)
        client.post(reverse("transfers:entry_confirm"), {"register": "1"})
    assert OutboxMessage.objects.count() < sent + 10


def test_an_operator_cancels_an_open_transfer_with_a_reason(seller, started):
    staff = operator()
    with pytest.raises(TransferError) as refused:
        cancel_transfer(transfer=started.transfer, actor=staff, reason=" ")
    assert refused.value.message == CANCEL_REASON_REQUIRED
    client = Client()
    client.force_login(staff)
    url = reverse("transfers:operator_cancel", args=[started.transfer.pk])
    page = client.get(url).content.decode()
    assert "旧宅の蓄電池" in page and "取り消しの理由" in page
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "\x00" * 3}).status_code == 400
    response = client.post(url, {"reason": "お問い合わせ番号 456: 売主から取り消しの依頼"})
    assert response.status_code == 302
    transfer = OwnershipTransfer.objects.get()
    assert transfer.cancelled_by == staff and "456" in transfer.cancel_reason
    mailed = OutboxMessage.objects.get(kind="transfer_cancelled")
    assert mailed.recipient == seller.email
    # once cancelled, the page is gone; and no one else ever finds it
    assert client.get(url).status_code == 404
    again = start_transfer(site=started.transfer.site, actor=seller)
    other = Client()
    other.force_login(seller)
    assert (
        other.get(reverse("transfers:operator_cancel", args=[again.transfer.pk])).status_code == 404
    )
