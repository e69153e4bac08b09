from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone

from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.services.inputs import PROFILE_FIELDS
from essmon.accounts.services.terms import announce_terms
from essmon.core.text import SafeTextAdmin, SafeTextAdminMixin, SafeTextMixin

# What lifts an account above a customer's, a dealer's or a viewer's: the admin and its
# permissions, and the operators' roles (access.is_operator, is_support: every gateway and
# its owner). Django lets anyone who may change accounts tick them, for anyone, themselves
# included; here only a superuser grants or removes them, or changes (its address, its
# password) an account that holds them, which would be taking its privileges over.
PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")
OPERATOR_ROLES = (User.Role.OPERATOR, User.Role.SUPPORT)


def is_privileged(user: User) -> bool:
    return user.is_staff or user.is_superuser or user.role in OPERATOR_ROLES


@admin.register(User)
class UserAdmin(SafeTextAdminMixin, DjangoUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "name", "role", "is_active", "activated_at", "locked_at"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "name", "furigana", "company_name", "phone"]
    readonly_fields = ["date_joined", "activated_at", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password", "role"]}),
        ("お客様情報", {"fields": list(PROFILE_FIELDS)}),
        (
            "状態",
            {
                "fields": [
                    "is_active",
                    "date_joined",
                    "activated_at",
                    "last_login",
                    "failed_logins",
                    "locked_at",
                ]
            },
        ),
        ("運営者権限", {"fields": ["is_staff", "is_superuser", "groups", "user_permissions"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "name", "role", "password1", "password2"]})]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += PRIVILEGE_FIELDS
            if obj is not None and obj.role in OPERATOR_ROLES:
                fields.append("role")  # one's own: the only such account one may open
        return fields

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [
                (value, label) for value, label in User.Role.choices if value not in OPERATOR_ROLES
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if self._guarded(request, obj) and obj != request.user:
            return False  # its page is then read-only, and its password page refused (403)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if self._guarded(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # the bulk delete asks no per-object permission: it would delete operators too
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)
        return actions

    @staticmethod
    def _guarded(request, obj) -> bool:
        return obj is not None and not request.user.is_superuser and is_privileged(obj)

    def save_model(self, request, obj, form, change):
        # An account an operator sets up and activates has no mailed link to confirm;
        # without activated_at it would look provisional to registration.
        if obj.is_active and obj.activated_at is None:
            obj.activated_at = timezone.now()
        super().save_model(request, obj, form, change)


TERMS_FIELDS = (
    "audience",
    "kind",
    "version",
    "title",
    "effective_at",
    "changes",
    "body",
    "privacy_purpose",
)
TERMS_IN_FORCE = (
    "施行済み、またはお知らせメールを送った版は変更できません。"
    "変更するときは、新しい版を作成してください。"
)
EFFECTIVE_IN_THE_PAST = "施行日時には、現在以降の日時を指定してください。"


class TermsVersionForm(SafeTextMixin, forms.ModelForm):
    class Meta:
        model = TermsVersion
        fields = TERMS_FIELDS

    def clean(self):
        cleaned = super().clean() or {}
        # the page may have been opened before the version took effect (the admin reads the
        # row again on saving, so the instance is the stored one)
        if self.instance.pk is not None and self.instance.fixed:
            raise forms.ValidationError(TERMS_IN_FORCE)
        effective_at = cleaned.get("effective_at")
        # a version taking effect before it was published would have been in force unseen;
        # a few minutes' grace for the time spent on the form
        if effective_at and effective_at < timezone.now() - timedelta(minutes=10):
            self.add_error("effective_at", EFFECTIVE_IN_THE_PAST)
        return cleaned


@admin.register(TermsVersion)
class TermsVersionAdmin(SafeTextAdmin):
    """Publishing a version: add one with its effective date, and optionally tell everyone
    ahead of it (the action). Once in force or announced it is read-only (people agreed to,
    or were told of, that text) and cannot be deleted."""

    form = TermsVersionForm
    list_display = [
        "title",
        "version",
        "audience",
        "kind",
        "effective_at",
        "in_force",
        "announced_at",
    ]
    list_filter = ["audience", "kind"]
    fields = TERMS_FIELDS
    actions = ["announce"]

    @admin.display(boolean=True, description="施行済み")
    def in_force(self, obj: TermsVersion) -> bool:
        return obj.in_force

    @admin.action(description="改定のお知らせメールを送る(施行前の版のみ、1版に1回)")
    def announce(self, request, queryset):
        for version in queryset:
            told = announce_terms(terms=version)
            if told:
                self.log_change(request, version, f"お知らせメールを送信({told}件)")
                self.message_user(request, f"{version}: お知らせメールを{told}件送信します。")
            else:
                self.message_user(
                    request,
                    f"{version}: 施行済みか、お知らせ済みのため送信しませんでした。",
                    level=messages.WARNING,
                )

    def get_actions(self, request):
        # the bulk delete asks no per-object permission: it would delete versions in force
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.fixed:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.fixed:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(SafeTextAdmin):
    list_display = ["user", "terms", "context", "accepted_at", "client_address"]
    list_filter = ["context", "terms"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]


@admin.register(AccountToken)
class AccountTokenAdmin(SafeTextAdmin):
    list_display = ["user", "purpose", "created_at", "expires_at", "used_at", "voided_at"]
    list_filter = ["purpose"]
    search_fields = ["user__email"]
    exclude = ["token_hash"]
    readonly_fields = [
        "user",
        "purpose",
        "created_at",
        "expires_at",
        "used_at",
        "voided_at",
        "failures",
        "new_email",
    ]

    def has_add_permission(self, request):
        # tokens are made by the flows that mail them; one made here would have no secret
        # anyone knows (and its required fields are not on the form: it was a 500)
        return False
