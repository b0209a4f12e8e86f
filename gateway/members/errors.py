"""What member-management operations refuse with; the HTTP layer maps each to a status."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a message for the operator."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    """The request is well-formed but a value is not acceptable (HTTP 422)."""

    status = 422


class Unauthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    """The caller's role or permissions do not allow this (HTTP 403)."""

    status = 403


class NotFound(ServiceError):
    """No such thing in the caller's organisation (HTTP 404, also for other organisations')."""

    status = 404


class Conflict(ServiceError):
    """Duplicate email, identifier or token; a second Owner (HTTP 409)."""

    status = 409
