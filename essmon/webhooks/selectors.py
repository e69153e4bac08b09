"""Webhooks, read: a holder's endpoints with their counts, and an endpoint's delivery log."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from essmon.webhooks.models import Delivery, Endpoint


def endpoints_of(endpoints: QuerySet[Endpoint]) -> QuerySet[Endpoint]:
    """The holder's endpoints with how many deliveries wait, are held and were given up."""
    return endpoints.annotate(
        waiting=Count(
            "deliveries",
            filter=Q(deliveries__state__in=(Delivery.State.PENDING, Delivery.State.SENDING)),
        ),
        held=Count("deliveries", filter=Q(deliveries__state=Delivery.State.HELD)),
    ).order_by("created_at", "pk")


def delivery_log(endpoint: Endpoint) -> QuerySet[Delivery]:
    """Newest first: the rows of the endpoint's delivery log."""
    return (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .order_by("-created_at", "-pk")
    )
