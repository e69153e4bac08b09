"""Bidirectional control characters (RLO and its kin) in free text: invisible, they make
text show in another order than it is ("御室邸\u202eトッメ" reads backwards after the mark),
so a 案件名, a name or a comment could show one thing and be another. The shared text rule
(essmon/core/text.py) refuses them, with a Japanese message of their own, in every form
built on it, the admin's, and the services that check text themselves."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse
from django.utils.module_loading import import_string

from tests import factories

pytestmark = pytest.mark.django_db

MESSAGE = "文字の表示の向きを変える制御文字"
# the embeddings and overrides, the isolates, and the marks (which can make two names that
# look the same differ, or turn a neighbouring run of digits around)
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
BIDI += ["\u2069", "\u200e", "\u200f", "\u061c"]


def _with(value: str) -> str:
    return f"御室{value}邸"


FORMS = [
    # (form, extra keyword arguments, data, field)
    ("essmon.portal.forms.SiteForm", {}, {"site_name": "{}"}, "site_name"),
    ("essmon.dealers.forms.StaffForm", {}, {"name": "{}", "email": "t@x.jp"}, "name"),
    ("essmon.alerts.forms.AcknowledgeForm", {}, {"comment": "明日訪問します。\r\n{}"}, "comment"),
    ("essmon.webhooks.forms.EndpointForm", {}, {"description": "{}"}, "description"),
    (
        "essmon.api.forms.TokenForm",
        {"scopes": ("read",), "today": date(2026, 12, 1)},
        {"name": "{}", "scopes": ["read"]},
        "name",
    ),
    ("essmon.support.forms.SearchForm", {}, {"q": "{}"}, "q"),
]


@pytest.mark.parametrize("char", BIDI, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("path", "kwargs", "data", "field"), FORMS, ids=lambda v: str(v)[-20:])
def test_forms_refuse_bidirectional_controls(path, kwargs, data, field, char):
    form_class = import_string(path)
    filled = {k: v.replace("{}", _with(char)) if isinstance(v, str) else v for k, v in data.items()}
    form = form_class(filled, **kwargs)
    assert not form.is_valid()
    (error,) = form.errors[field]
    assert MESSAGE in error and "取り除いてから入力してください" in error
    # the same text without the mark passes that field's check
    plain = {k: v.replace("{}", _with("")) if isinstance(v, str) else v for k, v in data.items()}
    assert field not in form_class(plain, **kwargs).errors


def test_the_registration_page_refuses_a_site_name_that_reads_backwards(client):
    gateway = factories.gateway()
    client.post(reverse("accounts:entry_terms"))
    form = {
        **factories.REGISTRATION_FORM,
        "gateway_id": gateway.gateway_id,
        "site_name": "御室邸\u202eトッメ",
    }
    response = client.post(reverse("accounts:entry_form"), form)
    assert response.status_code == 200 and MESSAGE in response.content.decode()
    gateway.refresh_from_db()
    assert gateway.state == gateway.State.UNCLAIMED


def test_the_admin_refuses_them_too(client):
    from essmon.accounts.models import User

    client.force_login(User.objects.create_superuser("op@example.jp", "OpPass2024x", name="運営"))
    site = factories.owned_gateway().site
    form = {
        "owner": site.owner.pk,
        "name": "御室\u2067邸",
        "postal_code": site.postal_code,
        "prefecture": site.prefecture,
        "address_rest": site.address_rest,
    }
    response = client.post(reverse("admin:gateways_site_change", args=[site.pk]), form)
    assert response.status_code == 200 and MESSAGE in response.content.decode()
    site.refresh_from_db()
    assert "\u2067" not in site.name


def test_an_acknowledgement_through_the_service_refuses_them():
    """The API's 異常の確認 calls the service, which checks its comment itself."""
    from django.utils import timezone

    from essmon.alerts.models import Alert, Kind
    from essmon.alerts.services import AlertError, acknowledge

    gateway = factories.owned_gateway()

    alert = Alert.objects.create(
        gateway=gateway,
        kind=Kind.FAULT,
        code="E1",
        severity="major",
        title="異常",
        since=timezone.now(),
        opened_at=timezone.now(),
    )
    with pytest.raises(AlertError, match=MESSAGE):
        acknowledge(alert=alert, user=gateway.owner, comment="確認\u202eしました")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_a_stored_value_loses_them_on_one_line():
    """Rows stored before the rule: a mail subject shows the text as it is ordered."""
    from essmon.core.text import one_line

    assert one_line("御室邸\u202eトッメ\u2066x\u2069\u200f") == "御室邸トッメx"
