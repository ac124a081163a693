"""Errors that the command line reports as one line (exit code 2) instead of a traceback."""


class UserError(Exception):
    """A problem with the user's input (file, puzzle, option, checkpoint) that the user can fix.

    The message names the problem and, where possible, the fix. The CLI prints it on one line and exits 2.
    """


class ConfigError(UserError, ValueError):
    """An invalid configuration value or override: a ``ValueError`` that the CLI prints as one line."""
