"""The one exception type whose message is shown to the user as a single line."""


class UserFacingError(Exception):
    """What went wrong and how to fix it, in one line; the CLI prints it without a traceback."""
