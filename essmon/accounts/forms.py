"""Forms of the registration and management sites. Labels are the product's own Japanese words."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth import authenticate, password_validation
from django.urls import reverse_lazy

from essmon.accounts.backends import login_refusal
from essmon.accounts.services.inputs import Person, SiteInput
from essmon.accounts.validators import password_rules_html
from essmon.core.japanese import (
    PREFECTURES,
    InputError,
    normalize_furigana,
    normalize_phone,
    normalize_postal_code,
    without_repeated_area,
)
from essmon.core.text import SafeTextForm, SafeTextMixin
from essmon.gateways.identifiers import is_valid_gateway_id, normalize_gateway_id

PREFECTURE_CHOICES = [("", "都道府県を選択")] + [(p, p) for p in PREFECTURES]
PHONE_NOTE = (
    "※仮登録時の認証に、ここで登録頂いた電話番号の入力が必要となりますので、"
    "記録しておくようお願いします。"
)


def _text(autocomplete: str, placeholder: str = "") -> forms.TextInput:
    attrs = {"autocomplete": autocomplete}
    if placeholder:
        attrs["placeholder"] = placeholder
    return forms.TextInput(attrs=attrs)


# The two address blocks of the forms: the fields a postal look-up fills, by block.
POSTAL_TARGETS: dict[str, dict[str, str]] = {
    "user": {
        "postal": "postal_code",
        "prefecture": "prefecture",
        "city": "city",
        "rest": "address_rest",
    },
    "site": {
        "postal": "site_postal_code",
        "prefecture": "site_prefecture",
        "city": "site_city",
        "rest": "site_address_rest",
    },
}


def _postal(target: str) -> forms.TextInput:
    """A postal-code input; static/js/postal.js looks its address up (see _postal_field.html)."""
    names = POSTAL_TARGETS[target]
    return forms.TextInput(
        attrs={
            "autocomplete": "postal-code" if target == "user" else "off",
            "inputmode": "numeric",
            "placeholder": "例: 600-8216",
            "data-postal-target": target,
            "data-postal-url": reverse_lazy("accounts:postal_lookup"),
            "data-prefecture": names["prefecture"],
            "data-city": names["city"],
            "data-rest": names["rest"],
        }
    )


def _whole_address(form: forms.Form, cleaned: dict, names: dict[str, str]) -> None:
    """それ以降の住所 holds what follows the city: a prefecture or city typed (or looked up)
    into it again is dropped, so the address is never composed with them twice."""
    rest = cleaned.get(names["rest"])
    if rest is None:
        return
    prefecture, city = cleaned.get(names["prefecture"], ""), cleaned.get(names["city"], "")
    trimmed = without_repeated_area(rest, prefecture or "", (city or "").strip())
    if trimmed:
        cleaned[names["rest"]] = trimmed
    elif rest.strip():
        form.add_error(
            names["rest"],
            "それ以降の住所には、市町村区より後の町名・番地・建物名などを入力してください。",
        )


def new_password_input() -> forms.PasswordInput:
    """A field for a password being chosen: a password manager may offer a strong one."""
    return forms.PasswordInput(attrs={"autocomplete": "new-password"})


def current_password_input() -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": "current-password"})


def show_password_rules(field: forms.Field) -> None:
    """Every rule the password must meet, stated next to the field before anyone types:
    built from the configured validators (accounts.validators), so the two agree."""
    field.help_text = password_rules_html()


def validate_new_password(password: str, user) -> str:
    """All the rules at once, one message per problem (Django collects them)."""
    password_validation.validate_password(password, user)
    return password


def _normalized(value: str, normalizer) -> str:
    try:
        return normalizer(value)
    except InputError as exc:
        raise forms.ValidationError(str(exc)) from exc


class PersonFieldsMixin(SafeTextForm):
    """ユーザ様情報 and 法人様情報."""

    name = forms.CharField(label="氏名", max_length=100, widget=_text("name", "例: 御室 花子"))
    furigana = forms.CharField(
        label="フリガナ", max_length=100, widget=_text("off", "例: オムロ ハナコ")
    )
    postal_code = forms.CharField(label="郵便番号", max_length=10, widget=_postal("user"))
    prefecture = forms.ChoiceField(
        label="都道府県",
        choices=PREFECTURE_CHOICES,
        widget=forms.Select(attrs={"autocomplete": "address-level1"}),
    )
    city = forms.CharField(label="市町村区", max_length=100, widget=_text("address-level2"))
    address_rest = forms.CharField(
        label="それ以降の住所", max_length=200, widget=_text("address-line1", "例: 東塩小路町1-1")
    )
    phone = forms.CharField(
        label="電話番号",
        max_length=20,
        help_text=PHONE_NOTE,
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "autocomplete": "tel-national",
                "placeholder": "例: 090-1234-5678",
            }
        ),
    )
    company_name = forms.CharField(
        label="法人名", max_length=100, required=False, widget=_text("organization")
    )
    department = forms.CharField(
        label="部署名", max_length=100, required=False, widget=_text("off")
    )

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].replace("　", " ").split())

    def clean_furigana(self) -> str:
        return _normalized(self.cleaned_data["furigana"], normalize_furigana)

    def clean_postal_code(self) -> str:
        return _normalized(self.cleaned_data["postal_code"], normalize_postal_code)

    def clean_phone(self) -> str:
        return _normalized(self.cleaned_data["phone"], normalize_phone)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        if cleaned.get("department") and not cleaned.get("company_name"):
            self.add_error("company_name", "部署名を入力する場合は法人名も入力してください。")
        _whole_address(self, cleaned, POSTAL_TARGETS["user"])
        return cleaned

    def person(self, email: str) -> Person:
        c = self.cleaned_data
        return Person(
            name=c["name"],
            furigana=c["furigana"],
            email=email,
            postal_code=c["postal_code"],
            prefecture=c["prefecture"],
            city=c["city"].strip(),
            address_rest=c["address_rest"].strip(),
            phone=c["phone"],
            company_name=c.get("company_name", "").strip(),
            department=c.get("department", "").strip(),
        )


EMAIL_MISMATCH = "メールアドレスが一致しません。同じアドレスを入力してください。"


class EmailTwiceMixin(SafeTextForm):
    """The mail address of a new account (its user ID), typed twice: a customer's
    registration, the 名義変更 buyer's and a dealer's."""

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

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip()

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        email, confirm = cleaned.get("email"), cleaned.get("email_confirm")
        if email and confirm and email != confirm.strip():
            self.add_error("email_confirm", EMAIL_MISMATCH)
        return cleaned


class NewCustomerForm(EmailTwiceMixin, PersonFieldsMixin):
    """The person of a new customer account: the registration's form
    (portal.forms.RegistrationForm) and the 名義変更 buyer's."""

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
    ]


class GatewayFieldsMixin(SafeTextForm):
    """ゲートウェイ情報."""

    gateway_id = forms.CharField(
        label="ゲートウェイID", max_length=20, widget=_text("off", "例: 01AB12345678")
    )
    # Never rendered back into a page, nor kept in the session: once checked, a flow keeps
    # a marker (gateways.services.claims.verified_marker) and the field may stay empty for that ID.
    gateway_password = forms.CharField(
        label="ゲートウェイパスワード",
        max_length=40,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
        ),
    )

    def __init__(self, *args, verified_gateway_id: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.verified_gateway_id = verified_gateway_id
        if verified_gateway_id:
            field = self.fields["gateway_password"]
            field.required = False
            field.help_text = (
                f"ゲートウェイID {verified_gateway_id} のパスワードは確認済みです。"
                "ゲートウェイIDを変更しない場合は、入力する必要はありません。"
            )

    def clean_gateway_id(self) -> str:
        value = normalize_gateway_id(self.cleaned_data["gateway_id"])
        if not is_valid_gateway_id(value):
            raise forms.ValidationError(
                "ゲートウェイIDは12文字(例: 01AB12345678)で入力してください。"
            )
        return value

    def clean_gateway_password(self) -> str:
        return self.cleaned_data["gateway_password"].strip()

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        gateway_id = cleaned.get("gateway_id")
        password_left_empty = cleaned.get("gateway_password") == ""
        if gateway_id and password_left_empty and gateway_id != self.verified_gateway_id:
            field = self.fields["gateway_password"]
            self.add_error("gateway_password", field.error_messages["required"])
        return cleaned


class SiteFieldsMixin(SafeTextForm):
    """設置先 [案件]."""

    site_name = forms.CharField(label="案件名", max_length=100, widget=_text("off", "例: 御室邸"))
    site_postal_code = forms.CharField(label="郵便番号", max_length=10, widget=_postal("site"))
    site_prefecture = forms.ChoiceField(label="都道府県", choices=PREFECTURE_CHOICES)
    site_city = forms.CharField(label="市町村区", max_length=100, widget=_text("off"))
    site_address_rest = forms.CharField(
        label="それ以降の住所", max_length=200, widget=_text("off", "例: 東塩小路町1-1")
    )

    def clean_site_postal_code(self) -> str:
        return _normalized(self.cleaned_data["site_postal_code"], normalize_postal_code)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        _whole_address(self, cleaned, POSTAL_TARGETS["site"])
        return cleaned

    def site(self) -> SiteInput:
        c = self.cleaned_data
        return SiteInput(
            name=c["site_name"].strip(),
            postal_code=c["site_postal_code"],
            prefecture=c["site_prefecture"],
            city=c["site_city"].strip(),
            address_rest=c["site_address_rest"].strip(),
        )


class GatewayForm(GatewayFieldsMixin):
    """ゲートウェイの登録, step 1."""


class ActivationForm(SafeTextForm):
    # No max_length: a longer password must hear "16文字以内" from the rule, not be cut
    # short by the browser (a pasted or generated password would be saved truncated).
    password = forms.CharField(label="パスワード", strip=False, widget=new_password_input())
    password_confirm = forms.CharField(
        label="パスワード(確認用)",
        strip=False,
        widget=new_password_input(),
        help_text="確認のため、同じパスワードをもう一度入力してください。",
    )
    phone = forms.CharField(
        label="電話番号",
        max_length=20,
        help_text="登録の申し込み時に入力した連絡先の電話番号を入力してください。",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel-national"}),
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)
        show_password_rules(self.fields["password"])

    def clean_password(self) -> str:
        return validate_new_password(self.cleaned_data["password"], self.user)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_confirm"):
            self.add_error("password_confirm", "パスワードが一致しません。")
        return cleaned


class LimitedAdminAuthenticationForm(SafeTextMixin, AdminAuthenticationForm):
    """The admin's login: the same limits as every login (the backend applies them), and
    when it refused without checking, its reason instead of Django's generic message."""

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            refusal = login_refusal(self.request)
            if refusal:
                raise forms.ValidationError(refusal, code="refused") from None
            raise


class LoginForm(SafeTextForm):
    # a CharField (any typo is only a failed login), typed as a mail address: the phone
    # keyboard has @, and a password manager fills it as the user name
    email = forms.CharField(
        label="ユーザID(メールアドレス)",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    password = forms.CharField(label="パスワード", strip=False, widget=current_password_input())


class ProfileForm(PersonFieldsMixin):
    """お客様情報の変更 (the mail address changes separately, with re-verification)."""


def _current_password(request, value: str) -> str:
    """The logged-in user's password, checked through the login limits: a session left
    open (or taken) must not become a way to guess it."""
    if authenticate(request, email=request.user.email, password=value) is None:
        raise forms.ValidationError(
            login_refusal(request) or "現在のパスワードが正しくありません。"
        )
    return value


class LimitedAdminPasswordChangeForm(SafeTextMixin, AdminPasswordChangeForm):
    """The admin's パスワードの変更: its current-password check goes through the login
    limits like every other (Django's form calls check_password directly)."""

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        return _current_password(self.request, self.cleaned_data["old_password"])


class EmailChangeForm(SafeTextForm):
    """メールアドレスの変更: the current password first, so that a session left open (or
    taken) is not enough to move the account to another address."""

    current_password = forms.CharField(
        label="現在のパスワード", strip=False, widget=current_password_input()
    )
    email = forms.EmailField(
        label="新しいメールアドレス",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    email_confirm = forms.EmailField(
        label="新しいメールアドレス(確認用)",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_current_password(self) -> str:
        return _current_password(self.request, self.cleaned_data["current_password"])

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        email, confirm = cleaned.get("email"), cleaned.get("email_confirm")
        if email and confirm and email.strip() != confirm.strip():
            self.add_error("email_confirm", "メールアドレスが一致しません。")
        return cleaned


class PasswordChangeForm(SafeTextForm):
    old_password = forms.CharField(
        label="現在のパスワード", strip=False, widget=current_password_input()
    )
    new_password = forms.CharField(
        label="新しいパスワード", strip=False, widget=new_password_input()
    )
    new_password_confirm = forms.CharField(
        label="新しいパスワード(確認用)",
        strip=False,
        widget=new_password_input(),
        help_text="確認のため、同じパスワードをもう一度入力してください。",
    )

    def __init__(self, *args, request=None, **kwargs):
        self.request = request
        self.user = request.user if request is not None else None
        super().__init__(*args, **kwargs)
        show_password_rules(self.fields["new_password"])

    def clean_old_password(self) -> str:
        return _current_password(self.request, self.cleaned_data["old_password"])

    def clean_new_password(self) -> str:
        return validate_new_password(self.cleaned_data["new_password"], self.user)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data  # the dict super().clean() returns
        new, confirm = cleaned.get("new_password"), cleaned.get("new_password_confirm")
        if new and confirm and new != confirm:
            self.add_error("new_password_confirm", "パスワードが一致しません。")
        return cleaned


TERMS_CHANGED_MEANWHILE = (
    "表示中に利用規約の新しい版が施行されました。内容をご確認のうえ、あらためて同意してください。"
)


class TermsRenewalForm(SafeTextForm):
    """「同意する」 on the agreement page: the versions the page showed, which must still be
    the ones waiting, so that nobody agrees to a text they were not shown."""

    versions = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, waiting: list, **kwargs) -> None:
        self.waiting = waiting
        super().__init__(*args, **kwargs)
        self.fields["versions"].initial = _version_ids(waiting)

    def clean_versions(self) -> str:
        shown = self.cleaned_data["versions"]
        if shown != _version_ids(self.waiting):
            raise forms.ValidationError(TERMS_CHANGED_MEANWHILE)
        return shown


def _version_ids(versions: list) -> str:
    return ",".join(str(version.pk) for version in versions)
