"""The errors that mean "the input or the request is wrong", as opposed to a bug.

The CLI turns these (and `basketcast.data.dataset.DataError` and `OSError`)
into a one-line message and exit code 2; any other exception keeps its
traceback and exits 1, so real bugs are not hidden behind "bad input".
"""

from __future__ import annotations

from runkit.errors import WriteError

__all__ = ["ConfigError", "UsageError", "WriteError"]


class UsageError(ValueError):
    """An option, a configuration value or a request that cannot be honoured."""


class ConfigError(UsageError):
    """A configuration file or value that cannot be used: names the file and the key."""
