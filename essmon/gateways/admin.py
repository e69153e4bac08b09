from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.gateways.models import Gateway, ProvisioningBatch, Site


@admin.register(Gateway)
class GatewayAdmin(SafeTextAdmin):
    list_display = ["gateway_id", "model", "part_number", "state", "owner", "site", "claimed_at"]
    list_filter = ["state", "model"]
    search_fields = ["gateway_id", "owner__email", "site__name"]
    raw_id_fields = ["owner", "site", "batch"]
    exclude = ["password_hash", "sheet_password_sealed"]


@admin.register(ProvisioningBatch)
class ProvisioningBatchAdmin(SafeTextAdmin):
    list_display = ["pk", "created_at", "source", "origin", "model", "part_number", "count"]
    list_filter = ["source", "model"]
    raw_id_fields = ["created_by"]


@admin.register(Site)
class SiteAdmin(SafeTextAdmin):
    list_display = ["name", "owner", "address", "created_at"]
    search_fields = ["name", "owner__email", "city", "address_rest"]
    raw_id_fields = ["owner"]

    @admin.display(description="設置先住所")
    def address(self, obj: Site) -> str:
        return obj.address
