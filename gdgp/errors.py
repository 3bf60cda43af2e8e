"""Exceptions that name the file or key that is wrong, so a failed job says why."""

from __future__ import annotations


class GdgpError(Exception):
    """Base class of every error gdgp raises on purpose (bad input, bad config)."""


class InputDataError(GdgpError, ValueError):
    """An input file or folder is missing, unreadable or inconsistent."""


class ConfigError(GdgpError, ValueError):
    """A configuration value or command-line option is invalid."""
