from django.contrib import admin
from django.http import HttpRequest

from essmon.core.text import SafeTextAdmin, SafeTextInline
from essmon.transfers.models import OwnershipTransfer, TransferredGateway


class TransferredGatewayInline(SafeTextInline):
    model = TransferredGateway
    fields = ["gateway_code", "previous_since"]
    readonly_fields = ["gateway_code", "previous_since"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OwnershipTransfer)
class OwnershipTransferAdmin(SafeTextAdmin):
    """The record of every 名義変更: read-only (starting one is the operators' page,
    /operator/transfers/<gateway_id>/start/, which shows the code once)."""

    list_display = ["site_name", "from_owner", "to_owner", "started_at", "started_as", "state"]
    list_filter = ["started_as"]
    search_fields = ["site_name", "from_owner__email", "to_owner__email", "gateways__gateway_code"]
    exclude = ["code_hash"]
    inlines = [TransferredGatewayInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="状態")
    def state(self, transfer: OwnershipTransfer) -> str:
        return transfer.status

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
