"""The command line's own refusals: exit status 2, like argparse's."""
from __future__ import annotations


class UsageError(Exception):
    """A command that cannot run as given; the message says what to change."""


class MissingDependency(Exception):
    """The command needs a package that is not installed; the message names the install line."""
