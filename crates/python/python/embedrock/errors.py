"""The exceptions embedrock raises.

Every exception is an :class:`EmbedrockError` and carries the facts Rust
knew: ``code`` (Bedrock's exception name such as ``ThrottlingException``,
or ``InputTooLong``, ``Transport``, ``UnknownModel``), ``index`` (the
position of the text that failed, when one did) and ``attempts`` (calls
made for it, for Bedrock models). Messages never contain secrets.

::

    EmbedrockError
    ├── ValidationError (also ValueError)  the request or a setting is invalid;
    │   │                                  Bedrock's ValidationException message as is
    │   └── InputTooLongError               one text is over the model's limit (``index``)
    ├── ModelNotFoundError (also LookupError)
    ├── NotFoundError (also LookupError)   a store record or collection is missing
    ├── ThrottlingError                    throttled after every retry
    ├── AccessDeniedError (also PermissionError)
    ├── ServiceError                       Bedrock failed (5xx, model errors, timeouts)
    ├── TransportError (also ConnectionError)
    └── StoreError                         the memory store failed
"""

from __future__ import annotations

__all__ = [
    "EmbedrockError",
    "ValidationError",
    "InputTooLongError",
    "ModelNotFoundError",
    "NotFoundError",
    "ThrottlingError",
    "AccessDeniedError",
    "ServiceError",
    "TransportError",
    "StoreError",
]


class EmbedrockError(Exception):
    """Any failure of embedrock."""

    code: str | None
    """Bedrock's exception name or embedrock's code for the failure."""
    index: int | None
    """The position of the text that failed, when one did."""
    attempts: int | None
    """Calls made before giving up (Bedrock models)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        index: int | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.index = index
        self.attempts = attempts


class ValidationError(EmbedrockError, ValueError):
    """The request or a setting is invalid (Bedrock's ValidationException)."""


class InputTooLongError(ValidationError):
    """One text is longer than the model accepts; ``index`` names it."""


class ModelNotFoundError(EmbedrockError, LookupError):
    """No model of that name or id."""


class NotFoundError(EmbedrockError, LookupError):
    """A record or collection of the store does not exist."""


class ThrottlingError(EmbedrockError):
    """Bedrock throttled the calls beyond every retry."""


class AccessDeniedError(EmbedrockError, PermissionError):
    """The credentials were refused."""


class ServiceError(EmbedrockError):
    """Bedrock (or the endpoint) failed."""


class TransportError(EmbedrockError, ConnectionError):
    """The endpoint could not be reached."""


class StoreError(EmbedrockError):
    """The memory store failed."""
