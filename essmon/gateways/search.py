"""The one search over gateways: the fleet table's and the dealer's list of 案件 use it."""

from __future__ import annotations

from django.db.models import Q
from django.db.models.functions import Concat
from django.db.models.lookups import IContains

from essmon.core.japanese import to_fullwidth_ascii, to_halfwidth_ascii


def search(text: str) -> Q:
    """Gateways whose ID, 案件名, site address or owner's name contains ``text``. Names and
    addresses are stored as typed: full-width digits and letters in one row, half-width in
    the next, so the text is tried in both widths."""
    match = Q()
    for variant in {text, to_halfwidth_ascii(text), to_fullwidth_ascii(text)}:
        match |= (
            Q(gateway_id__icontains=variant)
            | Q(site__name__icontains=variant)
            # the whole address, so that 「京都市下京区東塩小路町」 finds it across fields
            | Q(IContains(Concat("site__prefecture", "site__city", "site__address_rest"), variant))
            | Q(owner__name__icontains=variant)
        )
    return match
