"""Who people can turn to, and who our mails come from, as the settings say.

The support contact (お問い合わせ窓口, ``ESSMON_SUPPORT_*``) is shown in the footer, the
manual, the error pages and every mail; the sender (``ESSMON_FROM_EMAIL``) where people are
asked to let our mails through their carrier's filter (docomo, au, SoftBank allow mail by
address or by domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

import phonenumbers
from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class SupportContact:
    name: str
    phone: str
    hours: str
    url: str
    email: str

    @property
    def tel_uri(self) -> str:
        """``tel:`` with the number in international form when it is a Japanese number
        phonenumbers knows, else its digits as written."""
        try:
            number = phonenumbers.parse(self.phone, "JP")
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return "tel:" + "".join(c for c in self.phone if c.isdigit() or c == "+")

    @property
    def is_set(self) -> bool:
        return bool(self.name and (self.phone or self.url or self.email))


@dataclass(frozen=True)
class MailSender:
    address: str  # no-reply@example.jp
    domain: str  # example.jp


def support_contact() -> SupportContact:
    return SupportContact(
        name=settings.SUPPORT_NAME,
        phone=settings.SUPPORT_PHONE,
        hours=settings.SUPPORT_HOURS,
        url=settings.SUPPORT_URL,
        email=settings.SUPPORT_EMAIL,
    )


def mail_sender() -> MailSender:
    """The address in ``DEFAULT_FROM_EMAIL`` (which may carry a display name) and its domain."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return MailSender(address=address, domain=address.rpartition("@")[2])


def context(request: HttpRequest | None = None) -> dict[str, object]:
    """Template context processor: ``support`` and ``mail_sender`` on every page."""
    return {"support": support_contact(), "mail_sender": mail_sender()}
