from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone

from essmon.accounts.models import AccountToken, TermsAcceptance, TermsVersion, User
from essmon.accounts.services.inputs import PROFILE_FIELDS
from essmon.core.text import SafeTextAdmin, SafeTextAdminMixin


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

    def save_model(self, request, obj, form, change):
        # An account an operator sets up and activates has no mailed link to confirm;
        # without activated_at it would look provisional to registration.
        if obj.is_active and obj.activated_at is None:
            obj.activated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(TermsVersion)
class TermsVersionAdmin(SafeTextAdmin):
    list_display = ["version", "title", "published_at"]


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(SafeTextAdmin):
    list_display = ["user", "terms", "context", "accepted_at"]
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
