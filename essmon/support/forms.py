"""The support desk's and the provisioning console's input: the search box, the reason
every desk action asks for, 故障交換's sheet, a batch to create, a factory list, a
batch's sheets to print."""

from __future__ import annotations

from django import forms

from essmon.core.text import SafeTextForm, SafeTextMixin
from essmon.dealers.forms import ReplacementForm
from essmon.gateways.services.provisioning import DEFAULT_MODEL, MAX_COUNT
from essmon.gateways.services.sheets import SIZES
from essmon.support.selectors import QUERY_MAX
from essmon.support.services import REASON_MAX

# a web request must finish within the server's timeout (Argon2: ~50 ms a gateway); a
# bigger batch is made with the command, under the same rules
CONSOLE_MAX_COUNT = min(500, MAX_COUNT)
FACTORY_LIST_MAX_BYTES = 2 * 1024 * 1024


class SearchForm(SafeTextForm):
    q = forms.CharField(
        label="検索",
        max_length=QUERY_MAX,
        required=False,
        help_text="ゲートウェイID・メールアドレス・電話番号・氏名(ひらがな・カタカナ・半角カナ"
        "のどれでも)・法人名・案件名・住所のどれかを入力してください。",
        error_messages={"max_length": f"検索語は{QUERY_MAX}文字以内で入力してください。"},
    )


def reason_field(label: str = "理由") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="操作の記録に、操作した運営者・日時とともに残ります"
        "(退会後も残るため、お客様の電話番号などの個人情報は書かないでください)。",
        error_messages={
            "required": "理由を入力してください。",
            "max_length": f"理由は{REASON_MAX}文字以内で入力してください。",
        },
    )


class ReasonForm(SafeTextForm):
    """A desk action: why (required, recorded)."""

    reason = reason_field()


class DeskReplacementForm(ReplacementForm):
    """故障交換 from the desk: as a dealer's, with the reason required."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = reason_field("交換の理由")


class ProvisionForm(SafeTextForm):
    count = forms.IntegerField(
        label="台数",
        min_value=1,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        max_value=CONSOLE_MAX_COUNT,
        help_text=f"1回に{CONSOLE_MAX_COUNT}台まで(それより多い場合は provision-gateways コマンドで)。",
        error_messages={
            "required": "台数を入力してください。",
            "invalid": "台数は半角数字で入力してください。",
            "min_value": "台数は1台以上で入力してください。",
            "max_value": f"台数は{CONSOLE_MAX_COUNT}台以内で入力してください。",
        },
    )
    model = forms.CharField(
        label="形式",
        max_length=32,
        initial=DEFAULT_MODEL,
        error_messages={"required": "形式を入力してください。"},
    )
    part_number = forms.CharField(label="品番", max_length=32, required=False)
    lot = forms.CharField(
        label="ロット(IDの先頭2桁)",
        max_length=2,
        required=False,
        help_text="空欄のときは西暦の下2桁です。",
    )


class FactoryListForm(SafeTextMixin, forms.Form):
    file = forms.FileField(
        label="工場リスト(CSV)",
        help_text="UTF-8のCSV。見出し行は gateway_id, password, model "
        "(続けて part_number, device_secret も可)。",
        error_messages={
            "required": "取り込むCSVファイルを選んでください。",
            "empty": "ファイルが空です。",
            "invalid": "ファイルを選び直してください。",
        },
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > FACTORY_LIST_MAX_BYTES:
            raise forms.ValidationError(
                "ファイルが大きすぎます(2MBまで)。分けて取り込んでください。"
            )
        try:
            self.text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(
                "文字コードがUTF-8ではありません。UTF-8で保存し直してください。"
            ) from exc
        return upload


class SheetsForm(SafeTextForm):
    batch = forms.IntegerField(
        label="バッチ番号",
        min_value=1,
        error_messages={"invalid": "バッチ番号が正しくありません。"},
    )
    size = forms.ChoiceField(
        label="用紙",
        choices=[
            (size, {"a4": "A4(1枚1ページ)", "label": "ラベル(62×29mm)"}[size]) for size in SIZES
        ],
        initial="a4",
        error_messages={"invalid_choice": "用紙を選んでください。"},
    )
