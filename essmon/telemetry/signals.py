"""What the connectivity history tells the apps above it, which it may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the transaction that closes or
opens the connectivity interval.

Only a change is told, never a sample: ``gateways_online`` is sent for the gateways whose
interval the contact newly opened (the insert's RETURNING says which), so the ingest's hot
path sends nothing while gateways keep talking.

Receivers: essmon/webhooks/receivers.py (the events ``gateway.offline`` and
``gateway.online``)."""

from django.dispatch import Signal

# a gateway's open interval was closed: it is offline since its last message.
# gateway_id (the Gateway's pk), last_seen_at
gateway_offline = Signal()

# a contact opened a new interval for these gateways (back after being offline, or heard
# for the first time): gateway_ids (pks), online_from
gateways_online = Signal()
