"""Errors the package raises on purpose.

Every error a user can cause (bad config, missing source, broken weights) derives from
``StreamLprError`` so the CLI can print one line and exit without a traceback.
"""

from __future__ import annotations


class StreamLprError(Exception):
    """Base class: the message is meant for the user, in one line."""

    exit_code: int = 1


class ConfigError(StreamLprError):
    """A configuration key is unknown or its value is out of range (CLI exit code 2)."""

    exit_code = 2


class SourceError(StreamLprError):
    """A frame source cannot be opened or read."""


class WeightsError(StreamLprError):
    """A model weights file is missing or cannot be loaded."""


class DisplayError(StreamLprError):
    """``--show`` was asked for but no display is available."""
