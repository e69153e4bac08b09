"""The registration site's and the menu's forms that take the warranty's dates too."""

from __future__ import annotations

from django import forms

from essmon.accounts.forms import GatewayFieldsMixin, PersonFieldsMixin, SiteFieldsMixin
from essmon.warranty.forms import WarrantyDatesFields


class RegistrationForm(PersonFieldsMixin, GatewayFieldsMixin, SiteFieldsMixin, WarrantyDatesFields):
    """お客様情報の登録 — every field of the product's input form."""

    email = forms.EmailField(
        label="メールアドレス",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    email_confirm = forms.EmailField(
        label="メールアドレス(確認用)",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    field_order = [
        "name",
        "furigana",
        "email",
        "email_confirm",
        "postal_code",
        "prefecture",
        "city",
        "address_rest",
        "phone",
        "company_name",
        "department",
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

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip()

    def clean(self):
        cleaned = super().clean()
        email, confirm = cleaned.get("email"), cleaned.get("email_confirm")
        if email and confirm and email != confirm.strip():
            self.add_error(
                "email_confirm", "メールアドレスが一致しません。同じアドレスを入力してください。"
            )
        return cleaned


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
