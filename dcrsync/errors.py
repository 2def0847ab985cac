"""Errors a user can cause or fix. The CLI prints them as one line and exits 1."""

from __future__ import annotations


class DcrsyncError(Exception):
    """A failure the user can act on; str() is the whole one-line message."""


class ConfigError(DcrsyncError):
    pass


class StateError(DcrsyncError):
    pass


class SopsError(DcrsyncError):
    pass


class BackendError(DcrsyncError):
    """The server refused or failed a request. `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadAnswer(BackendError):
    """What a server answered cannot be used (not JSON, not the expected shape, too large or too
    deep); the message says what came back, from where, and what to do."""


class PlanError(DcrsyncError):
    pass


class TooMuchChange(PlanError):
    """The plan changes more of the managed clients than the safety thresholds allow."""
