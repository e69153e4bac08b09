from django import forms

from essmon.core.once import OnceForm
from essmon.webhooks.events import EVENT_TYPES
from essmon.webhooks.models import MAX_URL_LENGTH
from essmon.webhooks.urlcheck import UrlRefused, check_url


class EndpointForm(OnceForm):
    """A new endpoint: the URL (checked again by the service, which resolves it), the
    events it receives and a note for its holder."""

    url = forms.CharField(
        label="送信先のURL",
        max_length=MAX_URL_LENGTH,
        help_text="https:// で始まるURL。社内ネットワークのアドレスには送信できません。",
        widget=forms.URLInput(attrs={"autocomplete": "off", "inputmode": "url"}),
        error_messages={
            "required": "送信先のURLを入力してください。",
            "max_length": f"URLは{MAX_URL_LENGTH}文字以内で入力してください。",
        },
    )
    event_types = forms.MultipleChoiceField(
        label="受け取るイベント",
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "受け取るイベントを1つ以上選んでください。",
            "invalid_choice": "受け取るイベントを一覧から選んでください。",
        },
    )
    description = forms.CharField(
        label="説明",
        max_length=200,
        required=False,
        help_text="どの仕組みに送るかなど、ご自身のためのメモ(200文字まで)。",
        error_messages={"max_length": "説明は200文字以内で入力してください。"},
    )

    def clean_url(self) -> str:
        """The URL's form, here with the other fields' errors; its name is resolved and
        checked by the service (services.create_endpoint)."""
        url: str = self.cleaned_data["url"].strip()
        try:
            check_url(url)
        except UrlRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url
