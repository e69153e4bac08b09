"""The forms of 名義変更: the seller's password, the operator's reason, the buyer's code
and agreement."""

from __future__ import annotations

from django import forms

from essmon.accounts.forms import _current_password
from essmon.core.text import SafeTextForm
from essmon.transfers.services import CANCEL_REASON_MAX, REASON_MAX


class StartForm(SafeTextForm):
    """The seller confirms with the password (checked through the login limits)."""

    password = forms.CharField(label="パスワード", strip=False, widget=forms.PasswordInput)
    confirm = forms.BooleanField(
        label="上記の内容を確認し、名義変更の手続きを始めます",
        error_messages={
            "required": "手続きを始める場合は、内容を確認したことのチェックを入れてください。"
        },
    )

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"

    def clean_password(self) -> str:
        return _current_password(self.request, self.cleaned_data["password"])


class OperatorStartForm(SafeTextForm):
    reason = forms.CharField(
        label="理由(お問い合わせの内容・確認した書類など)",
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "理由を入力してください。"},
    )


class OperatorCancelForm(SafeTextForm):
    reason = forms.CharField(
        label="取り消しの理由",
        max_length=CANCEL_REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "取り消しの理由を入力してください。"},
    )


class CodeForm(SafeTextForm):
    code = forms.CharField(
        label="名義変更コード",
        max_length=40,
        help_text="例: ABCD-EFGH-JKLM-NPQR(ハイフンは省略できます。大文字・小文字は区別しません)",
        error_messages={"required": "名義変更コードを入力してください。"},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class ClaimForm(CodeForm):
    agree = forms.BooleanField(
        label="利用規約と個人情報の利用目的に同意し、このシステムを受け取ります",
        error_messages={
            "required": "受け取るには、利用規約と個人情報の利用目的への同意が必要です。"
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget = forms.HiddenInput()
