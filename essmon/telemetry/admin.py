from django.contrib import admin

from essmon.core.text import SafeTextAdmin
from essmon.telemetry.models import CounterDiscontinuity


@admin.register(CounterDiscontinuity)
class CounterDiscontinuityAdmin(SafeTextAdmin):
    """What the energy rollup did not take from a gateway's counters, for the operator to
    see which figures were filled in from the powers (補完) or are missing (欠測)."""

    list_display = (
        "gateway",
        "from_ts",
        "to_ts",
        "counter",
        "kind",
        "reported_kwh",
        "used_kwh",
        "detected_at",
    )
    list_filter = ("kind", "counter")
    search_fields = ("gateway__gateway_id",)
    date_hierarchy = "to_ts"
    list_select_related = ("gateway",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by the rollup job; reprocessing rewrites them
