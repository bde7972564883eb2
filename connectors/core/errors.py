"""The connector error taxonomy: retriable failures are retried with backoff, fatal ones stop with advice.

A fatal failure is `foundation.errors.SourceError`: a source's settings (foundation/source_config.py) raise it
too, before any connector runs.
"""

from __future__ import annotations


class MappingError(ValueError):
    """One source record cannot become an event; it is quarantined with this reason."""


class RetriableError(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped connection); raised once retries are exhausted."""


class CursorExpired(Exception):
    """The source no longer accepts a stored cursor; the stream restarts from its last timestamp."""
