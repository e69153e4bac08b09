"""The one domain error of the account workflows, and the refusal several of them share."""

# a mailed link (unlock, mail address change) that is unknown, used or expired
LINK_INVALID = "このURLは無効か、有効期限が切れています。"


class AccountError(Exception):
    """A refusal with a message for people; ``field`` names the form field it belongs to."""

    def __init__(
        self, message: str, *, field: str | None = None, messages: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # one message per problem where there are several (a refused password)
        self.messages = messages or [message]
