from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.mqtt.models import DeadLetter, GatewayCertificate, IngestCounter


class ReadOnly(SafeTextAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnly):
    list_display = ("received_at", "gateway_id", "topic", "reason")
    search_fields = ("gateway_id", "topic")
    date_hierarchy = "received_at"


@admin.register(IngestCounter)
class IngestCounterAdmin(ReadOnly):
    list_display = ("day", "transport", "name", "count")
    list_filter = ("transport", "name")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GatewayCertificate)
class GatewayCertificateAdmin(ReadOnly):
    # issued and revoked by the commands (essmon gateway-certs), which also rewrite the CRL
    list_display = ("gateway_id", "serial", "not_before", "not_after", "revoked_at", "reason")
    list_filter = ("reason",)
    search_fields = ("gateway_id", "serial")
    date_hierarchy = "issued_at"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
