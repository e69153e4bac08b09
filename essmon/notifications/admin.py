from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.notifications.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(SafeTextAdmin):
    """Operators see that a mail went out, to whom and why; never its body.

    A pending mail's body holds its token links (activation, password reset): showing
    it would let whoever reads the admin take over the recipient's account.
    """

    list_display = ["created_at", "recipient", "subject", "kind", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["recipient", "subject"]
    exclude = ["body"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields if f.name != "body"]

    def has_add_permission(self, request):
        return False
