"""What the alert engine tells the apps above it, which it may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the transaction that opens or
closes the alert, so what a receiver writes exists exactly when the change does.

Receivers: essmon/webhooks/receivers.py (the events ``alert.opened`` and ``alert.closed``)."""

from django.dispatch import Signal

# an alert was opened (its mails queued): alert
alert_opened = Signal()

# an alert was closed after its condition had gone for long enough: alert
alert_closed = Signal()
