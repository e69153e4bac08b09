"""What the dealers' workflows tell the apps above them, which they may not import
(docs/architecture.md, "Layers"). Sent with ``send`` inside the sender's transaction, so an
error in a receiver fails the sender as a direct call would.

Receivers: essmon/commands/receivers.py (the old unit's open commands expire),
essmon/mqtt/receivers.py (the old unit's certificates revoked, and the broker's files and
CRL rewritten once the replacement is committed)
and essmon/webhooks/receivers.py (the events ``link.added`` and ``link.ended``)."""

from django.dispatch import Signal

# 故障交換: ``gateway`` (the registry row that goes on) now carries the new unit's identity
# of ``replacement`` (a gateways.GatewayReplacement): gateway, replacement
gateway_replaced = Signal()

# 保守紐付け made: link (a DealerLink, active)
link_added = Signal()

# 保守紐付け ended, by whatever path (the owner's unlink, a 名義変更's claim, a 退会): link
# (ended), owner (the account the gateway belonged to when the link ended: the seller in a
# 名義変更), reason (one of LINK_END_REASONS)
link_ended = Signal()

LINK_END_REASONS = ("unlinked", "transfer", "withdrawal")
