"""Errors meant for people: the CLI prints them as one paragraph, without a traceback."""


class ExpkitError(Exception):
    """A problem the user can fix (bad config, missing file, bad data row, ...).

    The message should name the file/line/key that is wrong and say how to fix it.
    The CLI prints it and exits with status 2.
    """


class ConfigError(ExpkitError):
    """A configuration value is invalid."""


class DataError(ExpkitError):
    """A data file is missing, unreadable or malformed."""


class RunFolderGone(ExpkitError):
    """The run folder was deleted (or moved) while a command was writing into it."""
