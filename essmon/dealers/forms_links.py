"""Forms of the customer's 保守を任せる販売店様の管理. Labels are the product's own Japanese words."""

from __future__ import annotations

from django import forms

from essmon.core.japanese import to_halfwidth_ascii
from essmon.core.text import SafeTextForm


def _search(label: str, placeholder: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": placeholder, "autocomplete": "off"}),
    )


class GatewaySearchForm(SafeTextForm):
    """ゲートウェイの検索: by ゲートウェイID or 案件名 (GET)."""

    q = _search("ゲートウェイIDまたは案件名", "例: 01AB12345678 または 御室邸")

    def query(self) -> str:
        return self.cleaned_data.get("q", "").strip() if self.is_valid() else ""


class DealerSearchForm(SafeTextForm):
    """保守を任せている販売店様の検索: by 販売店ID or 販売店名 (GET)."""

    q = _search("販売店IDまたは販売店名", "例: D1234567 または 京都蓄電サービス")

    def query(self) -> str:
        return self.cleaned_data.get("q", "").strip() if self.is_valid() else ""


class DealerPairForm(SafeTextForm):
    """保守を任せる販売店様の登録: the dealer's 販売店ID and registered phone number.

    Only presence is checked here: whether the pair names a dealer is answered by
    ``find_dealer`` with one message for any mismatch, so the form must not tell a
    malformed ID from an unknown one.
    """

    dealer_code = forms.CharField(
        label="販売店ID",
        max_length=20,
        help_text="販売店様が遠隔モニタリングシステムに登録したID(例: D1234567)",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "例: D1234567"}),
    )
    phone = forms.CharField(
        label="電話番号",
        max_length=20,
        help_text="販売店様が遠隔モニタリングシステムに登録した電話番号",
        widget=forms.TextInput(
            attrs={"type": "tel", "autocomplete": "off", "placeholder": "例: 075-111-2222"}
        ),
    )

    def clean_dealer_code(self) -> str:
        return to_halfwidth_ascii(self.cleaned_data["dealer_code"]).strip().upper()

    def clean_phone(self) -> str:
        return self.cleaned_data["phone"].strip()


class ConsentForm(SafeTextForm):
    """The customer's consent to give the listed personal data to the dealer."""

    consent = forms.BooleanField(
        label="上記の情報を販売店様に提供することに同意します",
        error_messages={
            "required": "販売店様への情報の提供に同意いただけない場合は登録できません。"
            "内容をご確認のうえ、チェックを入れてください。"
        },
    )
