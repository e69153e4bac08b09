from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.notifications.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(SafeTextAdmin):
    """Operators see that a mail went out, to whom and why; never its body.

    A mail's body is the recipient's business, and while it is pending its sealed copy
    holds token links (activation, password reset) that would open the account.
    """

    list_display = ["created_at", "recipient", "subject", "kind", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["recipient", "subject"]
    exclude = ["body", "sealed_body"]
    readonly_fields = [
        f.name for f in OutboxMessage._meta.fields if f.name not in ("body", "sealed_body")
    ]

    def has_add_permission(self, request):
        return False
