from django.contrib import admin

from essmon.core.text import SafeTextAdmin, SafeTextInline
from essmon.dealers.models import (
    Dealer,
    DealerAccess,
    DealerLink,
    MaintenanceStaff,
    ProvisionRecord,
    SiteViewer,
)


class StaffInline(SafeTextInline):
    model = MaintenanceStaff
    extra = 0
    fields = ["name", "email", "confirmed_at"]
    readonly_fields = ["confirmed_at"]


@admin.register(Dealer)
class DealerAdmin(SafeTextAdmin):
    list_display = ["dealer_code", "company_name", "branch", "user", "created_at"]
    search_fields = ["dealer_code", "company_name", "branch", "user__email", "user__phone"]
    raw_id_fields = ["user"]
    readonly_fields = ["dealer_code"]
    inlines = [StaffInline]


@admin.register(DealerLink)
class DealerLinkAdmin(SafeTextAdmin):
    list_display = ["gateway", "dealer", "created_at", "ended_at"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["gateway__gateway_id", "dealer__dealer_code", "dealer__company_name"]
    raw_id_fields = ["gateway", "dealer", "created_by", "ended_by"]


@admin.register(ProvisionRecord)
class ProvisionRecordAdmin(SafeTextAdmin):
    """個人データの第三者提供の記録: kept as written, never edited."""

    list_display = ["consented_at", "gateway_code", "customer_name", "dealer"]
    search_fields = ["gateway_code", "customer_name", "dealer__dealer_code"]
    readonly_fields = [f.name for f in ProvisionRecord._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DealerAccess)
class DealerAccessAdmin(SafeTextAdmin):
    list_display = ["last_at", "at", "count", "dealer", "actor_name", "gateway", "action", "detail"]
    list_filter = ["action"]
    search_fields = ["gateway__gateway_id", "dealer__dealer_code"]
    readonly_fields = [f.name for f in DealerAccess._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SiteViewer)
class SiteViewerAdmin(SafeTextAdmin):
    """見守り: the owners' own records; an operator reads them (support), changes nothing."""

    list_display = ["gateway", "email", "invited_at", "accepted_at", "revoked_at"]
    search_fields = ["gateway__gateway_id", "email"]
    readonly_fields = [f.name for f in SiteViewer._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
