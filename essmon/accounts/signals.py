"""What accounts tells the apps above it, which it may not import (docs/architecture.md,
"Layers"). Django signals, sent with ``send``: the receivers run at once, inside the
sender's transaction, and an error in one fails the sender as a direct call would.

Receivers: essmon/warranty/receivers.py (the dates typed at registration, forgotten with a
provisional registration) and essmon/dealers/receivers.py (the person in charge's address,
proved by activation or by an address change, and a staff member's, which the dealer's
list of 保守担当者 may refuse) and essmon/transfers/receivers.py (the claim of a buyer who
registered from a transfer code)."""

from django.dispatch import Signal

# A registration or 「ゲートウェイの登録」 took ``gateway`` for ``user`` with the dates typed
# (each may be None): gateway, user, grid_connection_date, received_date
registration_dates_typed = Signal()

# A provisional account is about to be deleted and its held gateways given back: gateways,
# the QuerySet of those gateways
provisional_discarded = Signal()

# ``user`` set its password through the activation link, which proved its address: user,
# client_address. A receiver may return a sentence for the person (str), which the
# activation's completion page shows (essmon/transfers/receivers.py: the claim)
account_activated = Signal()

# ``user`` is about to change its mail address to ``new_email``: asked when the change is
# requested and again when its link is opened; a receiver refuses by raising AccountError
# (with field="email"): user, new_email
email_change_checked = Signal()

# ``user``'s mail address changed from ``old_email``, proved by the link mailed to the new
# one: user, old_email
email_changed = Signal()
