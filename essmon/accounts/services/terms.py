"""Acceptances of the terms of use, with the address they were given from."""

from __future__ import annotations

import ipaddress

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
