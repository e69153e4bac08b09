from __future__ import annotations

from django import forms

from essmon.accounts.forms import _current_password
from essmon.core.text import SafeTextForm


class ReauthenticateForm(SafeTextForm):
    """The password once more before the data leaves: a session left open (or taken) must
    not be enough to carry away everything the account holds. Checked through the login
    limits, like every password check."""

    password = forms.CharField(label="パスワード", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"

    def clean_password(self) -> str:
        return _current_password(self.request, self.cleaned_data["password"])


class WithdrawForm(ReauthenticateForm):
    confirm = forms.BooleanField(
        label="上記の内容を確認し、退会します(元に戻せません)",
        error_messages={
            "required": "退会する場合は、内容を確認したことのチェックを入れてください。"
        },
    )
