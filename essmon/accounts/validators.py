import re

from django.core.exceptions import ValidationError


class SeedPasswordRuleValidator:
    """The seed's rule: 8 to 16 characters with lowercase, uppercase and digits (all three)."""

    message = "パスワードは8~16文字で、英小文字・英大文字・数字をすべて含めてください。"

    def validate(self, password: str, user=None) -> None:
        if not (
            8 <= len(password) <= 16
            and re.search(r"[a-z]", password)
            and re.search(r"[A-Z]", password)
            and re.search(r"[0-9]", password)
            and password.isascii()
            and password.isprintable()
            and " " not in password
        ):
            raise ValidationError(self.message, code="password_rule")

    def get_help_text(self) -> str:
        return "8~16文字で、英小文字・英大文字・数字のすべてを含む文字列"
