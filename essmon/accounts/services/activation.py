"""本登録: the mailed link, the password and the registered phone number."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from essmon.accounts import signals
from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.services.errors import AccountError
from essmon.accounts.services.expiry import discard_provisional
from essmon.accounts.services.terms import record_terms_acceptance
from essmon.core.japanese import normalize_phone
from essmon.gateways.services.claims import confirm_held_gateways

VOIDED_BY_PHONE = (
    "電話番号の誤りが続いたため、このURLは無効になりました。"
    "お手数ですが、お客様情報の登録からやり直してください。"
)
PHONE_MISMATCH = (
    "電話番号がご登録の番号と一致しません。アカウント申込時に入力した電話番号を入力してください。"
)


def usable_activation(token: AccountToken | None) -> AccountToken:
    if token is None or token.purpose != AccountToken.Purpose.ACTIVATION:
        raise AccountError(
            "このURLは無効です。メールに記載されたURLをもう一度ご確認いただくか、"
            "電話番号の誤りなどで取り消された場合は、お客様情報の登録からやり直してください。"
        )
    if token.used_at is not None:
        raise AccountError(
            "このURLはすでに使用されています。ログイン画面からログインしてください。"
        )
    if token.voided_at is not None:
        raise AccountError(VOIDED_BY_PHONE)
    if token.expires_at <= timezone.now():
        raise AccountError(
            "このURLの有効期限が切れています。お手数ですが、お客様情報の登録からやり直してください。"
        )
    return token


def _phone_matches(typed: str, registered: str) -> bool:
    try:
        return normalize_phone(typed) == registered
    except ValueError:
        return False


def activate_account(
    *,
    token: AccountToken,
    password: str,
    phone: str,
    terms: TermsVersion,
    client_address: str,
    notices: list[str] | None = None,
) -> User:
    """本登録: set the password, check the registered phone number, claim the gateways.

    ``notices`` gets the sentences the apps above said about the activation (a receiver of
    ``account_activated`` may return one, e.g. 名義変更's claim), for the completion page.

    A wrong phone number is counted even though the call fails, so the count is
    committed before the error is raised; the fifth voids the link.
    """
    error: AccountError | None = None
    with transaction.atomic():
        token = usable_activation(
            AccountToken.objects.select_for_update()
            .select_related("user")
            .filter(pk=token.pk)
            .first()
        )
        user = token.user
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise AccountError(exc.messages[0], field="password", messages=exc.messages) from exc
        if not _phone_matches(phone, user.phone):
            token.failures += 1
            if token.failures >= settings.ACTIVATION_PHONE_FAILURES:
                token.voided_at = timezone.now()
                token.save(update_fields=["failures", "voided_at"])
                discard_provisional(user)
                error = AccountError(VOIDED_BY_PHONE)
            else:
                token.save(update_fields=["failures"])
                error = AccountError(PHONE_MISMATCH, field="phone")
        else:
            now = timezone.now()
            user.set_password(password)
            user.is_active = True
            user.activated_at = now
            user.save(update_fields=["password", "is_active", "activated_at"])
            token.used_at = now
            token.save(update_fields=["used_at"])
            confirm_held_gateways(owner=user)
            # dealers builds on accounts: a dealer's person in charge is confirmed there
            answers = signals.account_activated.send(
                sender=User, user=user, client_address=client_address
            )
            if notices is not None:
                notices.extend(answer for _, answer in answers if isinstance(answer, str))
            record_terms_acceptance(
                user=user,
                terms=terms,
                context=TermsAcceptance.Context.ACTIVATION,
                client_address=client_address,
            )
    if error is not None:
        raise error
    return user
