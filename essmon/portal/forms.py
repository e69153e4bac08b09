"""The registration site's and the menu's forms that take the warranty's dates too."""

from __future__ import annotations

from essmon.accounts.forms import GatewayFieldsMixin, NewCustomerForm, SiteFieldsMixin
from essmon.warranty.forms import WarrantyDatesFields


class RegistrationForm(NewCustomerForm, GatewayFieldsMixin, SiteFieldsMixin, WarrantyDatesFields):
    """お客様情報の登録 — every field of the product's input form."""

    field_order = [
        *NewCustomerForm.field_order,
        "gateway_id",
        "gateway_password",
        "site_name",
        "site_postal_code",
        "site_prefecture",
        "site_city",
        "site_address_rest",
        "grid_connection_date",
        "received_date",
    ]


class SiteForm(SiteFieldsMixin, WarrantyDatesFields):
    """ゲートウェイの登録, step 2: the 案件 and, optionally, the warranty's dates."""

    field_order = [
        "site_name",
        "site_postal_code",
        "site_prefecture",
        "site_address_rest",
        "grid_connection_date",
        "received_date",
    ]
