"""The one error tree of operator-argo; every error knows its HTTP status and whether to retry.

`http_status` is what an API caller sees; `retryable` is what a loop needs: whether the same
call can succeed later without anyone changing the request. Loops decide on `retryable` only.

OperatorError (500)                     permanent unless marked "retry"
├── InvalidRequest (400)                bad input: missing keys, wrong types, malformed stage
│   └── InvalidSignature (400)          a signature that cannot be parsed or recovered
├── Unauthorized (401)                  a valid signature from a signer that is not allowed
│   └── NonceRejected (401)             a replayed or too-old nonce
├── NotFound (404)                      no such job, result index or environment
├── Conflict (400)                      agreementId in use (the original answered 400, keep it)
├── RangeNotSatisfiable (416)           a Range header outside the file
├── TooManyRequests (429)               a caller holds as many log streams as it may
├── ConfigurationError (500)            bad settings; stops start-up with one message
├── TransferFailed (502)                a job step could not download an input or store a result
├── PermanentEngineError (422)          the engine refused this one workflow for good (invalid)
└── Unavailable (503, retry)            a dependency (database, cluster, storage) is not reachable
    ├── TransientEngineError (retry)    the cluster is down or overloaded: it comes back by itself
    └── EngineMisconfigured (retry)     the cluster refuses the operator (401/403, a missing
                                        namespace or Workflow resource): jobs wait, loudly, until
                                        the cluster's configuration (RBAC, namespaces) is fixed
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error operator-argo raises on purpose."""

    http_status = 500
    retryable = False  # whether the same call may succeed later, unchanged

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


class NotFound(OperatorError):
    http_status = 404


class Conflict(OperatorError):
    http_status = 400


class RangeNotSatisfiable(OperatorError):
    http_status = 416


class TooManyRequests(OperatorError):
    """A caller already holds as many of a bounded resource (log streams) as it may."""

    http_status = 429


class ConfigurationError(OperatorError):
    http_status = 500


class TransferFailed(OperatorError):
    """A job step could not fetch an input or the algorithm, or could not store a result."""

    http_status = 502


class PermanentEngineError(OperatorError):
    """The engine refused this one job's workflow for good (invalid spec); retrying would not
    help, so the job ends with this error."""

    http_status = 422


class Unavailable(OperatorError):
    """A dependency cannot be reached now; the caller retries with backoff."""

    http_status = 503
    retryable = True


class TransientEngineError(Unavailable):
    """The engine could not be reached or is overloaded; it comes back by itself."""


class EngineMisconfigured(Unavailable):
    """The engine refuses the operator itself (credentials, RBAC, a missing namespace or custom
    resource): nothing is wrong with the job, and it runs once the cluster is fixed."""
