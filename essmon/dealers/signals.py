"""What the dealers' workflows tell the apps above them, which they may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the sender's transaction, so an
error in a receiver fails the sender as a direct call would.

Receivers: essmon/commands/receivers.py (the old unit's open commands expire) and
essmon/mqtt/receivers.py (the broker's files rewritten once the replacement is committed)."""

from django.dispatch import Signal

# 故障交換: ``gateway`` (the registry row that goes on) now carries the new unit's identity
# of ``replacement`` (a gateways.GatewayReplacement): gateway, replacement
gateway_replaced = Signal()
