"""Acceptances of the terms of use, with the address they were given from, and the mail that
tells people of a version ahead of its effective date."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from essmon.accounts.models import TermsAcceptance, TermsVersion, User
from essmon.accounts.selectors import accounts_to_tell
from essmon.notifications.services import queue_mail


def record_terms_acceptance(
    *, user: User, terms: TermsVersion, context: str, client_address: str | None
) -> TermsAcceptance:
    return TermsAcceptance.objects.create(
        user=user, terms=terms, context=context, client_address=_ip_or_none(client_address)
    )


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value or ""))
    except ValueError:
        return None


def agree_to_terms(
    *, user: User, terms: list[TermsVersion], context: str, client_address: str | None
) -> list[TermsAcceptance]:
    """Record ``user``'s agreement to each of ``terms`` (the versions the page showed)."""
    with transaction.atomic():
        return [
            record_terms_acceptance(
                user=user, terms=version, context=context, client_address=client_address
            )
            for version in terms
        ]


def announce_terms(*, terms: TermsVersion, now: datetime | None = None) -> int:
    """Queue 「改定のお知らせ」 to every active account of the version's audience: once per
    version (``announced_at``, set under the row's lock) and only before it takes effect
    (after that, people are asked at their next request anyway). The version is fixed from
    then on, so the text people were told of is the text they are asked to agree to.
    Returns the number of mails queued."""
    now = now or timezone.now()
    with transaction.atomic():
        version = TermsVersion.objects.select_for_update().get(pk=terms.pk)
        if version.announced_at is not None or version.effective_at <= now:
            return 0
        TermsVersion.objects.filter(pk=version.pk).update(announced_at=now)
        told = 0
        for user in accounts_to_tell(audience=version.audience).iterator():
            queue_mail(
                recipient=user.email,
                kind="terms_announcement",
                context={"user": user, "terms": version},
            )
            told += 1
        return told
