from django import forms

from essmon.alerts.models import Kind
from essmon.alerts.services import COMMENT_MAX
from essmon.core.text import SafeTextForm


class AcknowledgeForm(SafeTextForm):
    comment = forms.CharField(
        label="確認のコメント",
        max_length=COMMENT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="対応の予定など(お客様にも表示されます)。",
        error_messages={"max_length": f"コメントは{COMMENT_MAX}文字以内で入力してください。"},
    )


class MailPreferencesForm(SafeTextForm):
    """Which kinds of alert mail the customer wants; unchecked kinds are opted out."""

    kinds = forms.MultipleChoiceField(
        label="受け取るお知らせ",
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
