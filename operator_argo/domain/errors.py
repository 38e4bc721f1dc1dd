"""The one error tree of operator-argo; every error knows the HTTP status it maps to.

OperatorError (500)
├── InvalidRequest (400)          bad input: missing keys, wrong types, malformed stage
│   └── InvalidSignature (400)    a signature that cannot be parsed or recovered
├── Unauthorized (401)            a valid signature from a signer that is not allowed
│   └── NonceRejected (401)       a replayed or too-old nonce
├── Forbidden (403)               admin routes without a listed admin
├── NotFound (404)                no such job, result index or environment
├── Conflict (400)                agreementId in use (the original answered 400, keep it)
├── RangeNotSatisfiable (416)     a Range header outside the file
├── ConfigurationError (500)      bad settings; stops start-up with one message
├── TransferFailed (502)          a job step could not download an input or store a result
└── Unavailable (503)             a dependency (database, cluster, storage) is not reachable
    └── TransientEngineError      the cluster may come back: retry later
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error operator-argo raises on purpose."""

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(OperatorError):
    http_status = 400


class InvalidSignature(InvalidRequest):
    http_status = 400


class Unauthorized(OperatorError):
    http_status = 401


class NonceRejected(Unauthorized):
    http_status = 401


class Forbidden(OperatorError):
    http_status = 403


class NotFound(OperatorError):
    http_status = 404


class Conflict(OperatorError):
    http_status = 400


class RangeNotSatisfiable(OperatorError):
    http_status = 416


class ConfigurationError(OperatorError):
    http_status = 500


class TransferFailed(OperatorError):
    """A job step could not fetch an input or the algorithm, or could not store a result."""

    http_status = 502


class Unavailable(OperatorError):
    http_status = 503


class TransientEngineError(Unavailable):
    """The engine could not be reached or refused for now; the caller retries with backoff."""


class PermanentEngineError(OperatorError):
    """The engine rejected the job for good (invalid workflow); retrying would not help."""
