"""Password rules (issue 12 §3): every rule stated before anyone types, built from the
configured validators; one message per problem, in Japanese without stray spaces."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from essmon.accounts.models import AccountToken, User
from essmon.accounts.selectors import current_terms
from essmon.accounts.services.activation import activate_account
from essmon.accounts.services.errors import AccountError
from essmon.accounts.validators import password_rules
from tests import factories
from tests.journeys import provisional_registration

RULES = [
    "8~16文字にしてください。",
    "英小文字(a~z)、英大文字(A~Z)、数字(0~9)をそれぞれ1文字以上含めてください。",
    "使える文字は半角の英字・数字・記号です(スペースや全角文字は使えません)。",
    "メールアドレスと似た文字列は使えません。",
    "よく使われているパスワード(「Password1」など)は使えません。",
]
TOO_SHORT = "パスワードが短すぎます。8文字以上にしてください(入力は{}文字です)。"
TOO_LONG = "パスワードが長すぎます。16文字以内にしてください(入力は{}文字です)。"
NO_LOWER = "英小文字(a~z)が含まれていません。1文字以上含めてください。"
NO_UPPER = "英大文字(A~Z)が含まれていません。1文字以上含めてください。"
NO_DIGIT = "数字(0~9)が含まれていません。1文字以上含めてください。"
BAD_CHARACTER = (
    "使えない文字が含まれています。半角の英字・数字・記号だけを使ってください"
    "(スペースや全角文字は使えません)。"
)
LIKE_EMAIL = (
    "パスワードがメールアドレスと似ています。メールアドレスとは異なる文字列にしてください。"
)
COMMON = "よく使われているパスワードのため使えません。推測されにくい文字列にしてください。"


def messages_for(password: str, email: str = "hanako.omuro@example.jp") -> list[str]:
    try:
        validate_password(password, User(email=email))
    except ValidationError as exc:
        return exc.messages
    return []


def test_the_stated_rules_are_the_configured_validators():
    assert password_rules() == RULES


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Solar2024Kyoto", []),
        ("a!B2c#D4", []),  # symbols are allowed, as the rules say
        ("Sol2", [TOO_SHORT.format(4)]),
        ("Seventeen17Chars1", [TOO_LONG.format(17)]),
        ("SOLAR2024KYOTO", [NO_LOWER]),
        ("solar2024kyoto", [NO_UPPER]),
        ("SolarKyotoJapan", [NO_DIGIT]),
        ("solarkyoto", [NO_UPPER, NO_DIGIT]),
        ("Solar 2024 Kyoto", [BAD_CHARACTER]),
        ("Solar2024京都", [BAD_CHARACTER]),
        ("Ｓｏｌａｒ2024kyoto", [NO_UPPER, BAD_CHARACTER]),
        ("Hanako12", [LIKE_EMAIL]),
        ("Omuro2024", [LIKE_EMAIL]),
        ("Password1", [COMMON]),
        ("abc", [TOO_SHORT.format(3), NO_UPPER, NO_DIGIT, COMMON]),
    ],
)
def test_one_message_per_problem(password, expected):
    assert messages_for(password) == expected


def test_no_message_has_a_stray_space():
    # Django's own Japanese reads 「このパスワードは メールアドレス と似すぎています。」
    everything = messages_for("abc") + messages_for("Hanako12") + messages_for("Ｓ 1") + RULES
    assert LIKE_EMAIL in everything
    for message in everything:
        assert " " not in message and "\u3000" not in message, message


@pytest.mark.django_db
def test_activation_states_every_rule_before_typing_and_says_each_problem_apart(client):
    _gw, url = provisional_registration(client)
    page = client.get(url).content.decode()
    rules = page.split('id="id_password_helptext"', 1)[1].split("</div>", 1)[0]
    assert [html.unescape(r) for r in re.findall(r"<li>(.*?)</li>", rules)] == RULES
    assert 'aria-describedby="id_password_helptext"' in page
    assert "maxlength" not in re.search(r'<input[^>]*id="id_password"[^>]*>', page).group(0)
    assert 'autocomplete="new-password"' in page

    user = User.objects.get()
    like_email = user.email.split("@")[0].capitalize() + "1"  # hanako@… → Hanako1
    page = client.post(
        url, {"password": like_email, "password_confirm": like_email, "phone": "09012345678"}
    ).content.decode()
    errors = page.split('id="id_password_error">', 1)[1].split("</div>", 1)[0]
    assert re.findall(r"<p>(.*?)</p>", errors) == [TOO_SHORT.format(7), LIKE_EMAIL]
    assert not User.objects.get().is_active


@pytest.mark.django_db
def test_the_service_refuses_with_one_message_per_problem(client):
    provisional_registration(client)
    token = AccountToken.objects.get(purpose=AccountToken.Purpose.ACTIVATION)
    with pytest.raises(AccountError) as caught:
        activate_account(
            token=token,
            password="solarkyoto",
            phone="09012345678",
            terms=current_terms(),
            client_address="192.0.2.1",
        )
    assert caught.value.field == "password"
    assert caught.value.messages == [NO_UPPER, NO_DIGIT]


@pytest.mark.django_db
def test_password_change_states_the_rules_and_refuses_next_to_the_new_password(client):
    user = factories.customer(email="hanako.omuro@example.jp")
    client.force_login(user)
    url = reverse("accounts:password_change")
    page = client.get(url).content.decode()
    assert all(html.escape(rule) in page or rule in page for rule in RULES)
    page = client.post(
        url,
        {
            "old_password": factories.USER_PASSWORD,
            "new_password": "Password1",
            "new_password_confirm": "Password1",
        },
    ).content.decode()
    assert f'<div class="error" id="id_new_password_error"><p>{COMMON}</p></div>' in page
    user.refresh_from_db()
    assert user.check_password(factories.USER_PASSWORD)


@pytest.mark.django_db
def test_password_reset_states_the_rules_and_refuses_next_to_the_new_password(client):
    user = factories.customer(email="hanako.omuro@example.jp")
    url = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    page = client.get(url).content.decode()
    rules = page.split('id="id_new_password1_helptext"', 1)[1].split("</div>", 1)[0]
    assert [html.unescape(r) for r in re.findall(r"<li>(.*?)</li>", rules)] == RULES
    page = client.post(
        url, {"new_password1": "solarkyoto", "new_password2": "solarkyoto"}
    ).content.decode()
    errors = page.split('id="id_new_password1_error">', 1)[1].split("</div>", 1)[0]
    assert re.findall(r"<p>(.*?)</p>", errors) == [NO_UPPER, NO_DIGIT]
    assert 'id="id_new_password2_error"' not in page
    assert page.count('role="alert"') == 1
