from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from essmon.core.text import SafeTextAdmin
from essmon.gateways.models import Gateway, GatewayReplacement, ProvisioningBatch, Site


@admin.register(Gateway)
class GatewayAdmin(SafeTextAdmin):
    list_display = ["gateway_id", "model", "part_number", "state", "owner", "site", "claimed_at"]
    list_filter = ["state", "model"]
    search_fields = ["gateway_id", "owner__email", "site__name"]
    raw_id_fields = ["owner", "site", "batch"]
    exclude = ["password_hash", "sheet_password_sealed"]
    actions = ["replace_gateway"]

    @admin.action(description="故障交換(選択した1台を新しいゲートウェイに交換)")
    def replace_gateway(
        self, request: HttpRequest, queryset: QuerySet[Gateway]
    ) -> HttpResponseRedirect | None:
        # the support desk's page checks the sheet, asks the reason and records it
        if queryset.count() != 1:
            self.message_user(
                request, "交換するゲートウェイを1台だけ選んでください。", messages.ERROR
            )
            return None
        gateway = queryset.get()
        return HttpResponseRedirect(
            reverse("support:replace", kwargs={"gateway_id": gateway.gateway_id})
        )


@admin.register(GatewayReplacement)
class GatewayReplacementAdmin(SafeTextAdmin):
    list_display = [
        "old_gateway_id",
        "new_gateway_id",
        "replaced_at",
        "replaced_by_name",
        "gateway",
    ]
    search_fields = ["old_gateway_id", "new_gateway_id", "gateway__gateway_id"]
    raw_id_fields = ["gateway", "replaced_by"]

    # the history is a fact: kept as it happened, changed by nobody
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ProvisioningBatch)
class ProvisioningBatchAdmin(SafeTextAdmin):
    list_display = ["number", "created_at", "source", "origin", "model", "part_number", "count"]
    list_filter = ["source", "model"]
    raw_id_fields = ["created_by"]

    @admin.display(description="バッチ番号", ordering="pk")
    def number(self, batch: ProvisioningBatch) -> int:
        return batch.pk


@admin.register(Site)
class SiteAdmin(SafeTextAdmin):
    list_display = ["name", "owner", "address", "created_at"]
    search_fields = ["name", "owner__email", "city", "address_rest"]
    raw_id_fields = ["owner"]

    @admin.display(description="設置先住所")
    def address(self, obj: Site) -> str:
        return obj.address
