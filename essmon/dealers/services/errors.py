"""The one domain error of the dealer workflows."""

from __future__ import annotations

from essmon.accounts.services.errors import AccountError


class DealerError(AccountError):
    """A refusal about dealers, with a message for people."""
