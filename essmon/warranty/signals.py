"""What the warranty tells the apps above it, which it may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the transaction that records
the offline warning, once per warning threshold and offline stretch.

Receivers: essmon/webhooks/receivers.py (the event ``warranty.at_risk``)."""

from django.dispatch import Signal

# a registered system's extended warranty is at risk: offline for ``days`` days (a warning
# threshold) since ``offline_since``, lapsing at ``lapses_at`` (or None) unless it
# reconnects: gateway, days, offline_since, lapses_at
warranty_at_risk = Signal()
