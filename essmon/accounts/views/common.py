"""「住所検索」 for the pages that take an address: the registration flows (``steps``), the
profile pages of customers and dealers."""

from __future__ import annotations

from dataclasses import dataclass

from essmon.accounts.forms import POSTAL_TARGETS
from essmon.core.japanese import (
    InputError,
    PostalAddress,
    format_postal_code,
    lookup_postal_code,
    normalize_postal_code,
    without_repeated_area,
)


@dataclass(frozen=True)
class PostalFill:
    """The outcome of 「住所検索」 for one address block."""

    data: dict
    error: str | None = None  # for the postal field: the code is malformed or unknown
    note: str = ""  # what the person should know: a town left to them, several cities

    def context(self, target: str) -> dict:
        """For _postal_field.html: the form shown again with the block filled."""
        return {"postal_errors": {target: self.error}, "postal_notes": {target: self.note}}


_MAX_NAMED = 5


def _named(values: tuple[str, ...]) -> str:
    shown = "、".join(values[:_MAX_NAMED])
    return shown + (f" ほか{len(values) - _MAX_NAMED}件" if len(values) > _MAX_NAMED else "")


def postal_notes(found: PostalAddress) -> tuple[str, str]:
    """What to tell the person after a look-up: (when それ以降の住所 was filled or had
    nothing to take, when it was left as the person typed it)."""
    if not found.city:
        note = (
            f"この郵便番号は複数の市町村区にまたがります({_named(found.cities)})。"
            "市町村区を入力してください。"
        )
        return note, note
    if len(found.towns) > 1:
        note = (
            f"この郵便番号には複数の町域があります({_named(found.towns)})。"
            "それ以降の住所に町域から入力してください。"
        )
        return note, note
    if found.town:
        kept = (
            "それ以降の住所は入力済みのため変えていません。"
            f"この郵便番号の町域は「{found.town}」です。"
        )
        return "", kept
    return "", ""


def apply_postal_lookup(data: dict, target: str) -> PostalFill:
    """「住所検索」 without JavaScript: the whole form came with the request, so nothing was
    typed since. Fills 都道府県 and 市町村区 from the postal code, and それ以降の住所 with
    the town only when it is empty; text the person typed there is never replaced.

    (With JavaScript, static/js/postal.js does the same from ``postal_lookup``'s answer, and
    also leaves alone whatever was typed while the answer was on its way.)
    """
    names = POSTAL_TARGETS[target]
    data = dict(data)
    try:
        found = lookup_postal_code(data.get(names["postal"], ""))
    except InputError as exc:
        return PostalFill(data, str(exc))
    data[names["postal"]] = format_postal_code(normalize_postal_code(data[names["postal"]]))
    data[names["prefecture"]] = found.prefecture
    if found.city:
        data[names["city"]] = found.city
    on_fill, on_keep = postal_notes(found)
    rest = without_repeated_area(
        data.get(names["rest"], ""), found.prefecture, data.get(names["city"], "").strip()
    )
    if rest:
        data[names["rest"]] = rest
        has_town = bool(found.town) and rest.startswith(found.town)
        return PostalFill(data, note=on_fill if has_town else on_keep)
    data[names["rest"]] = found.town
    return PostalFill(data, note=on_fill)
