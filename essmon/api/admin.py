from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from essmon.api.models import AccessToken
from essmon.core.text import SafeTextAdmin


@admin.register(AccessToken)
class AccessTokenAdmin(SafeTextAdmin):
    """The people's API tokens, to look at and, when one has leaked, to delete (失効): made
    only by their owners on their pages, the secret never here (only its digest exists)."""

    list_display = [
        "name",
        "user",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email"]
    exclude = ["digest", "form_once"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="選択したアクセストークンを失効させる")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(
            request, f"{count}件のアクセストークンを失効させました。", messages.SUCCESS
        )
