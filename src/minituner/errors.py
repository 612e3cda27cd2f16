"""Errors that bad input causes, and only those: a file or folder that is missing or is not what was
expected, a name that is not known, a package to install, a learner's code that raises. The command
line prints their message on one line; any other exception is a bug and shows its traceback. Each
is also the built-in error it always was (ValueError, FileNotFoundError...), for library callers."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, named in the message with what was expected."""


class BadInput(UserError, ValueError):
    """A value, or a file's content, that is not what was expected."""


class NotFound(UserError, FileNotFoundError):
    """A file or folder that does not exist."""


class AlreadyExists(UserError, FileExistsError):
    """A file or folder that would be overwritten."""


class Unknown(UserError, KeyError):
    """A name that is not among the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # KeyError's own str() quotes the message


class LearnerCodeFailed(UserError):
    """A learner's code raised while the course ran it: the error is theirs to read, not a bug."""


class NotInstalled(UserError, RuntimeError):
    """A package or a program that this needs and that is not installed."""
