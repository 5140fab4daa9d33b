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


class NoRoom(ExpkitError):
    """A write found no room on its disk (ENOSPC, EDQUOT, EFBIG): the run stops and says so."""


class Terminated(KeyboardInterrupt):
    """SIGTERM received while the CLI was not yet training (composing, reading and encoding the
    data). A KeyboardInterrupt, so it unwinds as Ctrl+C does there: the half-made run folder is
    removed, and the CLI says so and exits 143. Once training starts, Lightning's own SIGTERM
    handling takes over (it saves and stops at a batch boundary)."""


def raise_terminated(signum: int, frame: object) -> None:
    """The CLI's SIGTERM handler until training starts (the default action killed the process
    silently and left a run folder with no record behind)."""
    raise Terminated()


def raises_terminated(handler: object) -> bool:
    """Whether a SIGTERM handler is one of expkit's raising ones (the CLI's, or a sweep parent's),
    which a fit hands over to Lightning: raised mid-batch it would stop the fit unsaved."""
    return handler is raise_terminated or bool(getattr(handler, "raises_terminated", False))
