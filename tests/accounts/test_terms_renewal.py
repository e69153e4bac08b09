"""Terms that change (issue 14): the version in force by effective date, versions that do
not change once in force, and the agreement asked of customers and dealers (not operators)
before anything else, with the way out (logout, 退会) left open."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.accounts import selectors
from essmon.accounts.models import TermsAcceptance, TermsInForceError, TermsVersion, User
from tests import factories

pytestmark = pytest.mark.django_db

CUSTOMER = TermsVersion.Audience.CUSTOMER
DEALER = TermsVersion.Audience.DEALER


@pytest.fixture(autouse=True)
def _first_versions_long_ago():
    """The migrations' versions took effect when the test database was made; a version
    published in a test a day back must be the newer one."""
    TermsVersion.objects.update(effective_at=timezone.now() - timedelta(days=365))


def publish(
    audience: str = CUSTOMER,
    *,
    version: str = "2.0",
    kind: str = TermsVersion.Kind.TERMS,
    days: float = -1,
    changes: str = "第5条(禁止事項)に、ゲートウェイの分解を加えました。",
) -> TermsVersion:
    """A new version taking effect ``days`` from now (negative: already in force)."""
    return TermsVersion.objects.create(
        audience=audience,
        kind=kind,
        version=version,
        title="遠隔モニタリングサービス利用規約" if kind == "terms" else "プライバシーポリシー",
        body=f"第1条(目的)\n改定版 {version} の本文です。",
        privacy_purpose="改定後の個人情報の利用目的です。" if kind == "terms" else "",
        changes=changes,
        effective_at=timezone.now() + timedelta(days=days),
    )


def take_effect(terms: TermsVersion) -> None:
    """Time passes: the effective date is reached (not an edit, so not through save())."""
    TermsVersion.objects.filter(pk=terms.pk).update(
        effective_at=timezone.now() - timedelta(seconds=1)
    )


def operator() -> User:
    return User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営 太郎")


# --- the version in force ----------------------------------------------------------


def test_the_newest_effective_version_is_in_force_per_audience_and_kind():
    v1 = selectors.current_terms(CUSTOMER)
    dealer_v1 = selectors.current_terms(DEALER)
    future = publish(days=3)
    assert selectors.current_terms(CUSTOMER) == v1
    take_effect(future)
    assert selectors.current_terms(CUSTOMER) == future
    assert selectors.current_terms(DEALER) == dealer_v1
    privacy = publish(kind=TermsVersion.Kind.PRIVACY, version="1.0")
    assert selectors.current_terms(CUSTOMER) == future
    assert selectors.current_terms(CUSTOMER, TermsVersion.Kind.PRIVACY) == privacy


def test_a_version_in_force_does_not_change_and_a_future_one_may():
    future = publish(days=3)
    future.body = "書き直した本文"
    future.save()
    take_effect(future)
    future.refresh_from_db()
    future.body = "施行後の書き換え"
    with pytest.raises(TermsInForceError):
        future.save()
    future.effective_at = timezone.now() + timedelta(days=30)  # moving it later: no way back
    with pytest.raises(TermsInForceError):
        future.save()
    assert TermsVersion.objects.get(pk=future.pk).body == "書き直した本文"


def test_the_admin_shows_a_version_in_force_read_only_and_refuses_a_past_date(client):
    client.force_login(operator())
    in_force = selectors.current_terms(CUSTOMER)
    url = reverse("admin:accounts_termsversion_change", args=[in_force.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(url, {"title": "書き換え"}).status_code == 403
    assert client.post(
        reverse("admin:accounts_termsversion_delete", args=[in_force.pk]), {"post": "yes"}
    ).status_code in (302, 403)
    assert TermsVersion.objects.filter(pk=in_force.pk).exists()

    form = {
        "audience": CUSTOMER,
        "kind": "terms",
        "version": "2.0",
        "title": "遠隔モニタリングサービス利用規約",
        "effective_at_0": "2001-01-01",
        "effective_at_1": "00:00:00",
        "changes": "",
        "body": "本文",
        "privacy_purpose": "",
    }
    refused = client.post(reverse("admin:accounts_termsversion_add"), form)
    assert refused.status_code == 200
    assert "施行日時には、現在以降の日時を指定してください。" in refused.content.decode()
    ahead = (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%d")
    published = client.post(
        reverse("admin:accounts_termsversion_add"), {**form, "effective_at_0": ahead}
    )
    assert published.status_code == 302
    assert TermsVersion.objects.filter(audience=CUSTOMER, version="2.0").exists()


# --- the agreement asked before anything else --------------------------------------


def test_a_customer_is_sent_to_the_agreement_when_the_date_passes_and_goes_on_after(client):
    owner = factories.customer()
    client.force_login(owner)
    new = publish(days=1)
    assert client.get(reverse("accounts:menu")).status_code == 200  # not yet in force

    take_effect(new)
    response = client.get(reverse("accounts:menu"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:terms_renewal") + "?next=%2Fmenu%2F"
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "利用規約の改定" in body
    assert "第5条(禁止事項)に、ゲートウェイの分解を加えました。" in body
    assert "改定版 2.0 の本文です。" in body

    agreed = client.post(
        reverse("accounts:terms_renewal"),
        {"versions": str(new.pk), "next": "/menu/"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert agreed.status_code == 302 and agreed["Location"] == "/menu/"
    record = TermsAcceptance.objects.get(user=owner, terms=new)
    assert record.context == TermsAcceptance.Context.RENEWAL
    assert record.client_address == "203.0.113.7"
    assert record.accepted_at is not None
    assert client.get(reverse("accounts:menu")).status_code == 200


def test_logout_withdrawal_and_the_data_export_stay_open(client):
    owner = factories.customer()
    client.force_login(owner)
    publish()
    assert client.get(reverse("accounts:terms_declined")).status_code == 200
    declined = client.get(reverse("accounts:terms_declined")).content.decode()
    assert reverse("privacy:withdraw") in declined
    assert reverse("privacy:data_export") in declined
    assert client.get(reverse("privacy:withdraw")).status_code == 200
    assert client.get(reverse("privacy:data_export")).status_code in (200, 405)
    for name in ("accounts:account", "accounts:profile", "accounts:email_change", "links:menu"):
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("accounts:terms_renewal")), name
    out = client.post(reverse("accounts:logout"))
    assert out.status_code == 302 and out["Location"] == reverse("accounts:login")


def test_a_dealer_is_asked_for_its_own_terms_only(client):
    dealer = factories.dealer()
    client.force_login(dealer.user)
    publish(CUSTOMER)
    assert client.get(reverse("dealers:menu")).status_code == 200
    new = publish(DEALER, changes="")
    assert client.get(reverse("dealers:menu")).status_code == 302
    page = client.get(reverse("accounts:terms_renewal"))
    assert "主な変更点" not in page.content.decode()  # none given
    assert (
        reverse("privacy:withdraw")
        not in client.get(reverse("accounts:terms_declined")).content.decode()
    )
    client.post(reverse("accounts:terms_renewal"), {"versions": str(new.pk)})
    assert client.get(reverse("dealers:menu")).status_code == 200


def test_a_family_viewer_is_asked_for_the_customers_terms(client):
    """A viewer agreed to the customers' terms when creating the account, so a new version
    of them is put to the viewer too; the dealers' terms are not."""
    owner = factories.customer()
    gateway = factories.owned_gateway(owner=owner)
    viewer = factories.viewer(owner=owner, gateway=gateway)
    client.force_login(viewer)
    live = reverse("monitoring:live", kwargs={"gateway_id": gateway.gateway_id})
    publish(DEALER)
    assert client.get(live).status_code == 200
    new = publish(CUSTOMER)
    assert client.get(live)["Location"].startswith(reverse("accounts:terms_renewal"))
    client.post(reverse("accounts:terms_renewal"), {"versions": str(new.pk)})
    assert client.get(live).status_code == 200


def test_an_operator_is_not_asked(client):
    client.force_login(operator())
    publish(CUSTOMER)
    publish(DEALER)
    assert client.get(reverse("accounts:menu")).status_code == 200
    assert client.get(reverse("accounts:terms_renewal")).status_code == 302


def test_a_privacy_notice_is_agreed_to_with_the_terms(client):
    owner = factories.customer()
    client.force_login(owner)
    terms = publish()
    privacy = publish(kind=TermsVersion.Kind.PRIVACY, version="1.0")
    body = client.get(reverse("accounts:terms_renewal")).content.decode()
    assert "プライバシーポリシー" in body and "改定版 1.0 の本文です。" in body
    assert body.index("改定版 2.0") < body.index("改定版 1.0")  # 利用規約 first
    client.post(reverse("accounts:terms_renewal"), {"versions": f"{terms.pk},{privacy.pk}"})
    assert set(
        TermsAcceptance.objects.filter(user=owner, context="renewal").values_list(
            "terms", flat=True
        )
    ) == {terms.pk, privacy.pk}


def test_a_version_taking_effect_while_the_page_was_open_must_be_read_first(client):
    owner = factories.customer()
    client.force_login(owner)
    shown = publish()
    later = publish(kind=TermsVersion.Kind.PRIVACY, version="1.0")  # the page never showed it
    response = client.post(reverse("accounts:terms_renewal"), {"versions": str(shown.pk)})
    assert response.status_code == 200
    assert "表示中に利用規約の新しい版が施行されました" in response.content.decode()
    assert not TermsAcceptance.objects.filter(user=owner, context="renewal").exists()
    assert later.pk  # still waiting
    assert client.post(reverse("accounts:terms_renewal"), {"versions": "x"}).status_code == 200


def test_json_and_htmx_requests_get_an_answer_they_can_use(client):
    gateway = factories.owned_gateway()
    client.force_login(gateway.owner)
    publish()
    data = client.get(reverse("monitoring:history_data", args=[gateway.gateway_id]))
    assert data.status_code == 403
    answer = json.loads(data.content)
    assert answer["code"] == "terms_not_agreed"
    assert "利用規約が改定されました" in answer["error"]
    assert answer["agree_url"].startswith(reverse("accounts:terms_renewal"))
    asked = client.get(reverse("accounts:menu"), HTTP_ACCEPT="application/json")
    assert asked.status_code == 403 and asked["Content-Type"] == "application/json"
    fragment = client.get(
        reverse("monitoring:live_fragment", args=[gateway.gateway_id]), HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 204
    assert fragment["HX-Redirect"].startswith(reverse("accounts:terms_renewal"))


def test_the_gateways_api_and_static_files_are_not_asked(client):
    client.force_login(factories.customer())
    publish()
    api = client.post("/api/v1/telemetry", "{}", content_type="application/json")
    assert api.status_code == 401
    assert client.get("/api/v1/nothing").status_code == 404
    assert client.get("/no-such-page/").status_code == 404


def test_registration_and_activation_show_the_version_in_force(client):
    v1 = selectors.current_terms(CUSTOMER)
    future = publish(days=2, changes="")
    page = client.get(reverse("accounts:entry_terms")).content.decode()
    assert v1.body[:20] in page and "改定版 2.0" not in page
    take_effect(future)
    assert "改定版 2.0 の本文です。" in client.get(reverse("accounts:entry_terms")).content.decode()
    dealer_user = factories.dealer().user
    assert selectors.terms_for(user=dealer_user).audience == DEALER


def test_a_new_account_from_the_factories_has_agreed_to_what_is_in_force():
    publish(kind=TermsVersion.Kind.PRIVACY, version="1.0")
    owner = factories.customer()
    assert selectors.terms_to_agree(user=owner) == []
    assert selectors.has_terms_to_agree(user=owner) is False


# --- the announcement ahead of the date --------------------------------------------


def test_an_announcement_mails_each_active_account_of_the_audience_once():
    from essmon.accounts.services.terms import announce_terms
    from essmon.notifications.models import OutboxMessage

    owners = [factories.customer(), factories.customer()]
    factories.customer(is_active=False, activated_at=None)  # provisional: not told
    factories.dealer()  # another audience
    operator()
    future = publish(days=14)
    assert announce_terms(terms=future) == 2
    mails = OutboxMessage.objects.filter(kind="terms_announcement")
    assert sorted(mails.values_list("recipient", flat=True)) == sorted(o.email for o in owners)
    mail = mails.first()
    assert mail is not None
    assert mail.subject == "【遠隔モニタリングサービス】利用規約改定のお知らせ"
    assert "第5条(禁止事項)に、ゲートウェイの分解を加えました。" in mail.body
    assert "(2.0版)" in mail.body and "/login/" in mail.body
    assert announce_terms(terms=future) == 0  # once per version
    future.refresh_from_db()
    assert future.announced_at is not None
    future.body = "お知らせの後の書き換え"
    with pytest.raises(TermsInForceError):  # the text told of is the text agreed to
        future.save()
    assert announce_terms(terms=publish(version="3.0", days=-1)) == 0  # in force: asked anyway
    assert OutboxMessage.objects.filter(kind="terms_announcement").count() == 2


def test_the_admin_action_announces_and_records_who_did_it(client):
    from django.contrib.admin.models import LogEntry

    from essmon.notifications.models import OutboxMessage

    op = operator()
    client.force_login(op)
    factories.customer()
    future = publish(days=14)
    response = client.post(
        reverse("admin:accounts_termsversion_changelist"),
        {"action": "announce", "_selected_action": [str(future.pk)]},
        follow=True,
    )
    assert "お知らせメールを1件送信します。" in response.content.decode()
    assert OutboxMessage.objects.filter(kind="terms_announcement").count() == 1
    entry = LogEntry.objects.get(object_id=str(future.pk))
    assert entry.user == op and "お知らせメールを送信(1件)" in entry.get_change_message()
    again = client.post(
        reverse("admin:accounts_termsversion_changelist"),
        {"action": "announce", "_selected_action": [str(future.pk)]},
        follow=True,
    )
    assert "お知らせ済みのため送信しませんでした" in again.content.decode()
    assert (
        "delete_selected"
        not in client.get(reverse("admin:accounts_termsversion_changelist")).content.decode()
    )
