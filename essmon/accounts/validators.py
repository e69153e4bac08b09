"""The password rules (settings.AUTH_PASSWORD_VALIDATORS), each with its own message.

The product's rule is 8-16 characters with lowercase, uppercase and digits (all three); on
top of it a password may not be like the mail address nor a commonly used one. Every
rule says itself before the person types: the password fields' help text is built from
these validators' ``get_help_text`` (:func:`password_rules`), so the text on the page and
the check cannot drift apart. A refusal gives one message per problem, in Japanese
written here (Django's own Japanese for the similarity rule reads 「このパスワードは
メールアドレス と似すぎています。」, with stray spaces).
"""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Printable ASCII without the space: what a password may be made of (passwords are typed
# on phones and PCs alike, and a full-width letter looks like its half-width twin).
ALLOWED_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F))


def _errors(errors: list[ValidationError]) -> None:
    if errors:
        raise ValidationError(errors)


class PasswordLengthValidator:
    """8~16文字 (the product's lengths by default)."""

    def __init__(self, min_length: int = 8, max_length: int = 16) -> None:
        self.min_length = min_length
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        params = {"min": self.min_length, "max": self.max_length, "length": len(password)}
        if len(password) < self.min_length:
            raise ValidationError(
                "パスワードが短すぎます。%(min)d文字以上にしてください(入力は%(length)d文字です)。",
                code="password_too_short",
                params=params,
            )
        if len(password) > self.max_length:
            raise ValidationError(
                "パスワードが長すぎます。%(max)d文字以内にしてください(入力は%(length)d文字です)。",
                code="password_too_long",
                params=params,
            )

    def get_help_text(self) -> str:
        return f"{self.min_length}~{self.max_length}文字にしてください。"


class PasswordCharacterClassesValidator:
    """英小文字・英大文字・数字をすべて含む: one message for each kind that is missing."""

    KINDS = (
        ("英小文字(a~z)", "abcdefghijklmnopqrstuvwxyz", "password_no_lower"),
        ("英大文字(A~Z)", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "password_no_upper"),
        ("数字(0~9)", "0123456789", "password_no_digit"),
    )

    def validate(self, password: str, user=None) -> None:
        _errors(
            [
                ValidationError(
                    "%(kind)sが含まれていません。1文字以上含めてください。",
                    code=code,
                    params={"kind": kind},
                )
                for kind, letters, code in self.KINDS
                if not any(c in letters for c in password)
            ]
        )

    def get_help_text(self) -> str:
        kinds = "、".join(kind for kind, _letters, _code in self.KINDS)
        return f"{kinds}をそれぞれ1文字以上含めてください。"


class PasswordCharacterSetValidator:
    """Half-width letters, digits and symbols only: no spaces, no full-width characters."""

    def validate(self, password: str, user=None) -> None:
        if any(c not in ALLOWED_CHARACTERS for c in password):
            raise ValidationError(
                "使えない文字が含まれています。半角の英字・数字・記号だけを使ってください"
                "(スペースや全角文字は使えません)。",
                code="password_bad_character",
            )

    def get_help_text(self) -> str:
        return "使える文字は半角の英字・数字・記号です(スペースや全角文字は使えません)。"


class UserAttributeSimilarityValidator(password_validation.UserAttributeSimilarityValidator):
    """Not like the mail address (or another attribute configured), said in our words."""

    def get_error_message(self) -> str:
        return "パスワードが%(verbose_name)sと似ています。%(verbose_name)sとは異なる文字列にしてください。"

    def get_help_text(self) -> str:
        from django.contrib.auth import get_user_model

        names = []
        for attribute in self.user_attributes:
            try:
                field = get_user_model()._meta.get_field(attribute)
            except FieldDoesNotExist:
                continue  # Django ignores attributes the user model lacks: so does the text
            names.append(str(getattr(field, "verbose_name", attribute)))  # a relation has none
        return f"{'・'.join(names)}と似た文字列は使えません。" if names else ""


class CommonPasswordValidator(password_validation.CommonPasswordValidator):
    """Not one of the 20,000 most common passwords (Django's list), said in our words."""

    def get_error_message(self) -> str:
        return "よく使われているパスワードのため使えません。推測されにくい文字列にしてください。"

    def get_help_text(self) -> str:
        return "よく使われているパスワード(「Password1」など)は使えません。"


def password_rules() -> list[str]:
    """Every configured rule, in the order of the settings: the text the fields show."""
    return [text for text in password_validation.password_validators_help_texts() if text]


def password_rules_html() -> SafeString:
    """The rules as a list, for a password field's help text."""
    items = format_html_join("", "<li>{}</li>", ((rule,) for rule in password_rules()))
    return format_html('<ul class="rules">{}</ul>', items)
