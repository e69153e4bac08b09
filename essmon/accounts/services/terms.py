"""Acceptances of the terms of use, with the address they were given from."""

from __future__ import annotations

import ipaddress

from django.db import transaction

from essmon.accounts.models import TermsAcceptance, TermsVersion, User


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
