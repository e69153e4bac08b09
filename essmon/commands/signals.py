"""What the commands tell the apps above them, which they may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the transaction that stores
the gateway's answer, whichever transport (HTTPS or MQTT) carried it.

Receivers: essmon/webhooks/receivers.py (the events ``setting.applied`` and
``setting.rejected``)."""

from django.dispatch import Signal

# a gateway answered a command: applied or rejected (``command.status``): command
command_answered = Signal()
