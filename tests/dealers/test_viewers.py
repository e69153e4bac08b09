"""見守り (family viewers): the invitation by real mail, accepting it, what a viewer sees and
does not, revocation on the next request, and the end of it all by 退会 on either side."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from essmon.accounts.models import AccountToken, User
from essmon.dealers.models import SiteViewer
from essmon.dealers.services.viewers import ADDRESS_NOT_FOR_VIEWING
from essmon.notifications.models import OutboxMessage
from tests import factories
from tests.conftest import SmtpSink

pytestmark = pytest.mark.django_db

FAMILY = "musuko@example.jp"
OWNER_SECRETS = ("見守 太郎", "ミマモリ　タロウ", "075-555-0199", "東塩小路町1-1", "実家の蓄電池")


@pytest.fixture
def owner():
    return factories.customer(
        email="oya@example.jp", name="見守 太郎", furigana="ミマモリ　タロウ", phone="+81755550199"
    )


@pytest.fixture
def gateway(owner):
    return factories.owned_gateway(owner=owner, site_name="実家の蓄電池")


def invitation_path(mailoutbox, address: str, base_url: str) -> str:
    """The path of the link in the newest invitation mailed to ``address``."""
    (message,) = [m for m in mailoutbox if m.to == [address] and "ご招待" in m.subject][-1:]
    return message.body.split(base_url, 1)[1].split()[0]


def invite(client, owner, gateway, email=FAMILY):
    client.force_login(owner)
    return client.post(
        reverse("viewers:menu"), {"gateway": gateway.gateway_id, "email": email}, follow=True
    )


@pytest.mark.smtp
def test_invitation_by_real_mail_creates_a_viewer_and_tells_the_owner(
    client, owner, gateway, smtp_server, settings
):
    response = invite(client, owner, gateway)
    assert "見守りの招待メールを送りました" in response.content.decode()
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == FAMILY and "見守りへのご招待" in message["Subject"]
    body = SmtpSink.body(message)
    for secret in (*OWNER_SECRETS, owner.email):
        assert secret not in body
    link = SmtpSink.link(message, "/menu/viewers/accept/")
    raw = link.rstrip("/").rsplit("/", 1)[1]
    # the token is stored hashed only, and the stored mail has the link removed
    assert not AccountToken.objects.filter(token_hash=raw).exists()
    assert raw not in OutboxMessage.objects.get(recipient=FAMILY).body
    row = SiteViewer.objects.get()
    assert row.status == "招待中(未承諾)" and row.invited_by == owner

    path = link.removeprefix(settings.BASE_URL)
    client.logout()
    page = client.get(path)
    assert page.status_code == 200 and "見守り用のアカウントを作成します" in page.content.decode()
    refused = client.post(path, {"name": "見守 次郎", "password": "short", "password_confirm": "x"})
    assert refused.status_code == 400
    done = client.post(
        path,
        {
            "name": "見守 次郎",
            "password": "Family2024Kyoto",
            "password_confirm": "Family2024Kyoto",
            "agree": "on",
        },
    )
    assert done.status_code == 302 and done.url == reverse("monitoring:index")
    viewer = User.objects.get(email=FAMILY)
    assert viewer.role == User.Role.VIEWER and viewer.check_password("Family2024Kyoto")
    assert viewer.terms_acceptances.get().terms.audience == "customer"
    row.refresh_from_db()
    assert row.viewer == viewer and row.accepted_at is not None and row.status == "閲覧中"

    # single use: the link is gone now
    assert client.get(path).status_code == 410
    # the owner is told; the viewer is signed in and goes straight to the one system
    smtp_server.wait_for(2)
    (notice,) = smtp_server.to(owner.email)
    assert "見守りが承諾されました" in notice["Subject"] and FAMILY in SmtpSink.body(notice)
    live = client.get(reverse("monitoring:index"), follow=True)
    assert live.redirect_chain[-1][0] == reverse("monitoring:live", args=[gateway.gateway_id])
    text = live.content.decode()
    assert "見守り中のシステム" in text
    for secret in OWNER_SECRETS:
        assert secret not in text


def test_an_existing_viewer_accepts_a_second_invitation(
    client, owner, gateway, settings, mailoutbox
):
    other = factories.customer(email="other-house@example.jp")
    other_gateway = factories.owned_gateway(owner=other, site_name="別の家")
    viewer = factories.viewer(owner=other, gateway=other_gateway, email=FAMILY)
    invite(client, owner, gateway)
    path = invitation_path(mailoutbox, FAMILY, settings.BASE_URL)
    client.logout()
    assert "見守りを承諾する" in client.get(path).content.decode()
    assert client.post(path).status_code == 302
    assert User.objects.filter(email=FAMILY).count() == 1
    client.force_login(viewer)
    page = client.get(reverse("monitoring:index")).content.decode()
    assert gateway.gateway_id in page and other_gateway.gateway_id in page
    assert "別の家" not in page and "実家の蓄電池" not in page


@pytest.mark.parametrize("role", ["customer", "dealer", "operator"])
def test_an_address_of_another_kind_of_account_cannot_become_a_viewer(
    client, owner, gateway, role, settings, mailoutbox
):
    address = "taken@example.jp"
    if role == "dealer":
        factories.dealer(email=address)
    else:
        factories.customer(email=address, role=role)
    response = invite(client, owner, gateway, email=address)
    # the owner hears the same as for any address: nothing tells whether it has an account
    assert "見守りの招待メールを送りました" in response.content.decode()
    path = invitation_path(mailoutbox, address, settings.BASE_URL)
    client.logout()
    page = client.get(path)
    assert page.status_code == 410 and ADDRESS_NOT_FOR_VIEWING in page.content.decode()
    assert client.post(path, {"name": "x"}).status_code == 410
    assert User.objects.get(email=address).role != User.Role.VIEWER


def test_bad_invitations_get_japanese_messages(client, owner, gateway):
    assert (
        "ご自身のメールアドレスは招待できません"
        in invite(client, owner, gateway, email=owner.email).content.decode()
    )
    invite(client, owner, gateway)
    again = invite(client, owner, gateway, email=FAMILY.upper())
    assert "すでに招待しています" in again.content.decode()
    bad = client.post(reverse("viewers:menu"), {"gateway": "99ZZ", "email": "not-an-address"})
    assert bad.status_code == 400
    for n in range(4):
        invite(client, owner, gateway, email=f"family{n}@example.jp")
    full = invite(client, owner, gateway, email="sixth@example.jp")
    assert "5名まで招待できます" in full.content.decode()
    assert SiteViewer.objects.count() == 5


def test_an_owner_cannot_share_another_owners_system(client, owner):
    other_gateway = factories.owned_gateway(site_name="他人の家")
    client.force_login(owner)
    response = client.post(
        reverse("viewers:menu"), {"gateway": other_gateway.gateway_id, "email": FAMILY}
    )
    assert response.status_code == 400  # not among the choices
    assert not SiteViewer.objects.exists()


def test_a_viewer_sees_live_and_history_only(client, owner, gateway):
    viewer = factories.viewer(owner=owner, gateway=gateway)
    other_gateway = factories.owned_gateway(site_name="他人の家")
    client.force_login(viewer)
    gid = gateway.gateway_id
    for name in ("live", "live_fragment", "history", "history_data", "history_csv"):
        response = client.get(reverse(f"monitoring:{name}", args=[gid]))
        assert response.status_code == 200, name
        for secret in OWNER_SECRETS:
            assert secret not in response.content.decode(errors="replace"), (name, secret)
    page = client.get(reverse("monitoring:live", args=[gid])).content.decode()
    for tab in ("設定", "保証", "異常の履歴"):
        assert f">{tab}<" not in page
    for name in ("settings", "settings_progress", "warranty", "warranty_certificate", "alerts"):
        assert client.get(reverse(f"monitoring:{name}", args=[gid])).status_code == 404, name
    assert (
        client.get(reverse("monitoring:live", args=[other_gateway.gateway_id])).status_code == 404
    )
    for name in ("viewers:menu", "links:gateway", "privacy:data_export", "accounts:gateway_add"):
        kwargs = {"gateway_id": gid} if name == "links:gateway" else {}
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404, name
    assert client.get(reverse("accounts:account")).url == reverse("accounts:menu")
    assert client.get(reverse("monitoring:fleet_csv")).status_code == 404
    menu = client.get(reverse("accounts:menu")).content.decode()
    assert "見守り中のシステム" in menu and "ゲートウェイの登録" not in menu


def test_revocation_takes_effect_on_the_next_request(client, owner, gateway):
    viewer = factories.viewer(owner=owner, gateway=gateway)
    row = SiteViewer.objects.get(viewer=viewer)
    watching = Client()
    watching.force_login(viewer)
    live = reverse("monitoring:live", args=[gateway.gateway_id])
    assert watching.get(live).status_code == 200
    client.force_login(owner)
    listed = client.get(reverse("viewers:menu")).content.decode()
    assert viewer.email in listed and "閲覧中" in listed
    assert client.get(reverse("viewers:revoke", args=[row.pk])).status_code == 405
    response = client.post(reverse("viewers:revoke", args=[row.pk]), follow=True)
    assert "見守りを解除しました" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None and row.revoked_by == owner and row.status == "解除済み"
    assert watching.get(live).status_code == 404  # same session, very next request
    assert (
        watching.get(reverse("monitoring:live_fragment", args=[gateway.gateway_id])).status_code
        == 404
    )
    # another owner cannot revoke it (nor learn it exists)
    client.force_login(factories.customer())
    assert client.post(reverse("viewers:revoke", args=[row.pk])).status_code == 404


def test_revoking_a_pending_invitation_voids_its_link(client, owner, gateway, settings, mailoutbox):
    invite(client, owner, gateway)
    row = SiteViewer.objects.get()
    client.post(reverse("viewers:revoke", args=[row.pk]))
    path = invitation_path(mailoutbox, FAMILY, settings.BASE_URL)
    client.logout()
    assert client.get(path).status_code == 410


def test_a_change_of_owner_ends_the_former_owners_viewers(client, owner, gateway):
    viewer = factories.viewer(owner=owner, gateway=gateway)
    client.force_login(viewer)
    live = reverse("monitoring:live", args=[gateway.gateway_id])
    assert client.get(live).status_code == 200
    gateway.owner = factories.customer()
    gateway.save(update_fields=["owner"])
    assert client.get(live).status_code == 404


def test_owner_withdrawal_ends_its_viewers(client, owner, gateway):
    from essmon.privacy.services import withdraw_customer

    viewer = factories.viewer(owner=owner, gateway=gateway)
    client.force_login(viewer)
    live = reverse("monitoring:live", args=[gateway.gateway_id])
    assert client.get(live).status_code == 200
    withdraw_customer(user=owner)
    assert client.get(live).status_code == 404
    assert User.objects.filter(pk=viewer.pk).exists()  # the viewer's own account stays


def test_a_viewer_deletes_its_own_account(client, owner, gateway):
    viewer = factories.viewer(owner=owner, gateway=gateway, email=FAMILY)
    client.force_login(viewer)
    page = client.get(reverse("privacy:withdraw"))
    assert page.status_code == 200 and "見守り用アカウントの削除" in page.content.decode()
    refused = client.post(reverse("privacy:withdraw"), {"password": "wrong"})
    assert refused.status_code == 200 and User.objects.filter(pk=viewer.pk).exists()
    done = client.post(
        reverse("privacy:withdraw"),
        {"password": factories.USER_PASSWORD, "confirm": "on"},
        follow=True,
    )
    assert "見守り用のアカウントを削除しました" in done.content.decode()
    assert not User.objects.filter(email=FAMILY).exists()
    row = SiteViewer.objects.get()
    assert row.revoked_at is not None and row.viewer is None and FAMILY not in row.email
    client.force_login(owner)
    listed = client.get(reverse("viewers:menu")).content.decode()
    assert "解除済み" in listed and FAMILY not in listed
