"""Forms of the dealers' screens: 販売店様の登録 and 保守担当者の追加, and the owners' 見守り."""

from __future__ import annotations

from django import forms

from essmon.accounts.forms import (
    EmailTwiceMixin,
    GatewayFieldsMixin,
    PersonFieldsMixin,
    new_password_input,
    show_password_rules,
    validate_new_password,
)
from essmon.accounts.models import User
from essmon.core.text import SafeTextForm

DEALER_PHONE_NOTE = (
    "※お客様が御社に保守を任せる際は、販売店IDとこの電話番号を入力して御社を登録します。"
    "お客様にお伝えする番号を入力してください。本登録時の認証にもこの電話番号の入力が必要です。"
)


class DealerRegistrationForm(EmailTwiceMixin, PersonFieldsMixin):
    """販売店様の登録: the company, its person in charge, address and phone."""

    company_name = forms.CharField(
        label="販売店名",
        max_length=100,
        widget=forms.TextInput(
            attrs={"autocomplete": "organization", "placeholder": "例: 京都蓄電サービス株式会社"}
        ),
    )
    branch = forms.CharField(
        label="支店・部署名",
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "例: 京都支店"}),
    )
    # the customer's 部署名: 支店・部署名 takes its place (None is Django's way to drop an
    # inherited field, which the stubs do not model)
    department = None  # type: ignore[assignment]

    field_order = [
        "company_name",
        "branch",
        "name",
        "furigana",
        "email",
        "email_confirm",
        "postal_code",
        "prefecture",
        "city",
        "address_rest",
        "phone",
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = "担当者 氏名"
        self.fields["furigana"].label = "担当者 フリガナ"
        self.fields["phone"].help_text = DEALER_PHONE_NOTE
        if "email" in self.fields:  # the profile form has none
            self.fields["email"].help_text = "ログインのユーザIDになります。"

    def clean_company_name(self) -> str:
        return self.cleaned_data["company_name"].strip()

    def clean_branch(self) -> str:
        return self.cleaned_data["branch"].strip()


class DealerProfileForm(DealerRegistrationForm):
    """販売店様情報の変更; the mail address changes on its own page, with re-verification."""

    # None drops the inherited fields (Django's way, which the stubs do not model)
    email = None  # type: ignore[assignment]
    email_confirm = None  # type: ignore[assignment]


class StaffForm(SafeTextForm):
    """保守担当者の追加."""

    name = forms.CharField(
        label="氏名",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "例: 保守 太郎"}),
    )
    email = forms.EmailField(
        label="メールアドレス",
        max_length=254,
        help_text="確認のメールを送ります。記載のURLが開かれるまで、異常のお知らせは届きません。",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].replace("　", " ").split())

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip()


class ViewerInviteForm(SafeTextForm):
    """見守りの招待: which system, and the family member's mail address."""

    gateway = forms.ChoiceField(label="見守ってもらうシステム")
    email = forms.EmailField(
        label="招待する方のメールアドレス",
        max_length=254,
        help_text="招待のメールを送ります。記載のURLから見守り用のアカウントを作ると、"
        "現在の状況と発電・消費の履歴だけを見られるようになります。",
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, gateways: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["gateway"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = gateways


class ViewerAccountForm(SafeTextForm):
    """見守り用アカウントの作成: a name and a password, nothing else about the person."""

    name = forms.CharField(
        label="お名前(表示用)",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "name", "placeholder": "例: 御室 一郎"}),
    )
    password = forms.CharField(label="パスワード", strip=False, widget=new_password_input())
    password_confirm = forms.CharField(
        label="パスワード(確認用)", strip=False, widget=new_password_input()
    )
    agree = forms.BooleanField(
        label="利用規約と個人情報の利用目的に同意します",
        error_messages={"required": "見守りを始めるには、利用規約への同意が必要です。"},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        show_password_rules(self.fields["password"])

    def clean_password(self) -> str:
        return validate_new_password(self.cleaned_data["password"], None)

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_confirm"):
            self.add_error("password_confirm", "パスワードが一致しません。")
        return cleaned


class ReplacementForm(GatewayFieldsMixin):
    """故障交換: the new unit's sheet, why, and a confirmation that it is installed."""

    reason = forms.CharField(
        label="交換の理由",
        max_length=500,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "例: ゲートウェイの故障(電源が入らない)"}
        ),
    )
    confirm = forms.BooleanField(
        label="新しいゲートウェイを設置し、交換前のゲートウェイを取り外しました",
        error_messages={"required": "設置と取り外しを確認のうえ、チェックを入れてください。"},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["gateway_id"].label = "交換後のゲートウェイID"
        self.fields["gateway_password"].label = "交換後のゲートウェイパスワード"


class StaffLoginRoleForm(SafeTextForm):
    """販売店スタッフのログイン: the role a login gives (on inviting, or changing it)."""

    role = forms.ChoiceField(
        label="役割",
        widget=forms.RadioSelect,
        choices=[
            ("technician", "技術担当(閲覧・設定の変更・異常の確認・日付の入力・故障交換)"),
            ("viewer", "閲覧のみ(見るだけで、何も変更できません)"),
        ],
        error_messages={
            "required": "役割を選んでください。",
            "invalid_choice": "役割は「技術担当」か「閲覧のみ」から選んでください。",
        },
    )


class StaffLoginAcceptForm(SafeTextForm):
    """販売店スタッフのログインの設定: a password and the dealers' terms."""

    password = forms.CharField(label="パスワード", strip=False, widget=new_password_input())
    password_confirm = forms.CharField(
        label="パスワード(確認用)", strip=False, widget=new_password_input()
    )
    agree = forms.BooleanField(
        label="販売店様利用規約に同意します",
        error_messages={"required": "ログインを始めるには、利用規約への同意が必要です。"},
    )

    def __init__(self, *args, email: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.email = email
        show_password_rules(self.fields["password"])

    def clean_password(self) -> str:
        # the login ID is the mail address: the password must not be like it
        return validate_new_password(self.cleaned_data["password"], User(email=self.email))

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_confirm"):
            self.add_error("password_confirm", "パスワードが一致しません。")
        return cleaned
