from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.notifications.models import MAIL_KINDS, OutboxMessage


class KindFilter(admin.SimpleListFilter):
    title = "種類"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        kinds = OutboxMessage.objects.order_by().values_list("kind", flat=True).distinct()
        return sorted(((k, MAIL_KINDS.get(k, k)) for k in kinds), key=lambda pair: pair[1])

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() is not None else queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(SafeTextAdmin):
    """Operators see that a mail went out, to whom and why; never its body.

    A mail's body is the recipient's business, and while it is pending its sealed copy
    holds token links (activation, password reset) that would open the account.
    """

    list_display = [
        "created_at",
        "recipient",
        "subject",
        "kind_label",
        "state",
        "attempts",
        "sent_at",
    ]
    list_filter = ["state", KindFilter]
    search_fields = ["recipient", "subject"]
    exclude = ["body", "sealed_body"]
    readonly_fields = [
        f.name for f in OutboxMessage._meta.fields if f.name not in ("body", "sealed_body")
    ]

    class Media:
        css = {"all": ["admin-essmon/outbox.css"]}

    @admin.display(description="種類", ordering="kind")
    def kind_label(self, message: OutboxMessage) -> str:
        return message.kind_label

    def has_add_permission(self, request):
        return False
