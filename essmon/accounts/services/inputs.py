"""What the forms hand to the account workflows: a person and a 設置先, already checked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    furigana: str
    email: str
    postal_code: str
    prefecture: str
    city: str
    address_rest: str
    phone: str
    company_name: str = ""
    department: str = ""


@dataclass(frozen=True)
class SiteInput:
    name: str
    postal_code: str
    prefecture: str
    address_rest: str
    city: str = ""  # blank only where no form asked for it


# a person's fields on every account, a dealer's too (the mail address changes by a link)
PERSON_FIELDS = ("name", "furigana", "postal_code", "prefecture", "city", "address_rest", "phone")

# お客様情報の変更: a customer's also name its company
PROFILE_FIELDS = (
    "name",
    "furigana",
    "postal_code",
    "prefecture",
    "city",
    "address_rest",
    "phone",
    "company_name",
    "department",
)
