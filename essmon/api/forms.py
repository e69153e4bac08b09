"""The アクセストークン page's form: a name, the scopes the person may give, an optional
expiry date."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms

from essmon.api.models import AccessToken
from essmon.core.once import OnceForm
from essmon.warranty.forms import JapaneseDateField

# what each scope lets a token do, in the page's words
SCOPE_HELP = {
    AccessToken.Scope.READ: "読み取り: 状態・現在の値・履歴・保証などの取得",
    AccessToken.Scope.SETTINGS: "設定の変更: 設定変更の依頼",
    AccessToken.Scope.ALERTS: "異常の確認: 異常を確認済みにする",
}
# a token for longer than this is one nobody remembers making
LONGEST = timedelta(days=5 * 366)


class TokenForm(OnceForm):
    name = forms.CharField(
        label="名前",
        max_length=100,
        help_text="何に使うトークンかが分かる名前。例: 自宅のダッシュボード",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    scopes = forms.MultipleChoiceField(
        label="権限",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "権限を1つ以上選んでください。"},
    )
    expires_on = JapaneseDateField(
        label="有効期限",
        required=False,
        help_text="この日の終わりまで使えます。空欄にすると削除するまで使えます。",
    )

    def __init__(self, *args, scopes: tuple[str, ...], today: date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(scope, AccessToken.Scope(scope).label) for scope in scopes]
        field.help_text = "。".join(SCOPE_HELP[AccessToken.Scope(scope)] for scope in scopes) + "。"
        self.fields["expires_on"].widget.attrs["min"] = (today + timedelta(days=1)).isoformat()

    def clean_expires_on(self) -> date | None:
        value: date | None = self.cleaned_data.get("expires_on")
        if value is None:
            return None
        if value <= self.today:
            raise forms.ValidationError("有効期限には明日以降の日付を入力してください。")
        if value > self.today + LONGEST:
            raise forms.ValidationError("有効期限は5年以内の日付にしてください。")
        return value
