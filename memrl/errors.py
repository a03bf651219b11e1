"""The two exception types memrl raises on purpose."""


class MemrlError(Exception):
    """Base class for memrl's own errors."""


class UserError(MemrlError, ValueError):
    """Bad input from the user (a flag, a file, a name): CLIs print the message as one line, exit 2."""
