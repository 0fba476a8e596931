"""Errors a user can fix. The CLI prints their message on one line and exits with status 2."""


class MaskhubError(Exception):
    """A fatal error with a message that says what is wrong and how to fix it."""


class UsageError(MaskhubError):
    """Bad or conflicting options (the command line, not the data)."""


class DataError(MaskhubError, ValueError):
    """A dataset that is missing, empty or not in a readable layout (a ValueError: a bad data argument)."""
