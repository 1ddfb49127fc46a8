"""What a failed send means for the outbox row, from WeChat's error codes.

| errcode / failure                         | class              | what the drain does                       |
|-------------------------------------------|--------------------|-------------------------------------------|
| -1 (system busy), network error, HTTP 5xx | ``TransientError`` | retry later, exponential backoff          |
| 40001 / 42001 / 40014 (token)             | ``TokenError``     | client refreshes once and retries; then   |
|                                           |                    | treated as transient                      |
| 45015 / 45047 (out of window / quota)     | ``ChannelClosed``  | fall back to the next channel             |
| 45009 (API rate limit)                    | ``RateLimited``    | pause the whole sender                    |
| 43004 / 43101 / 40003 (not reachable)     | ``Unreachable``    | mark the customer unreachable             |
| anything else                             | ``RejectedError``  | try the next channel, else failed         |
| no answer within the timeout (read)       | ``OutcomeUnknown`` | failed, never resent (may have arrived)   |
"""

from __future__ import annotations

TRANSIENT_CODES = frozenset({-1})
TOKEN_CODES = frozenset({40001, 42001, 40014})
CHANNEL_CLOSED_CODES = frozenset({45015, 45047})
RATE_LIMIT_CODES = frozenset({45009})
UNREACHABLE_CODES = frozenset({43004, 43101, 40003})


class DeliveryError(Exception):
    """A send that the API did not accept. ``errcode`` is WeChat's code when there was one."""

    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


class TransientError(DeliveryError):
    """Worth retrying later: system busy, network trouble, server errors."""


class TokenError(TransientError):
    """The access token was refused even after one refresh."""


class ChannelClosed(DeliveryError):
    """This channel cannot reach the customer now (window closed or quota spent)."""


class RateLimited(DeliveryError):
    """The account hit the API's rate limit: every send should pause."""


class Unreachable(DeliveryError):
    """The customer cannot receive messages (unsubscribed, refused, bad openid)."""


class OutcomeUnknown(DeliveryError):
    """The request reached WeChat but no answer came back in time: it may have been delivered, so
    it is not sent again (a double is worse than a failure the seller can see and check)."""


class RejectedError(DeliveryError):
    """The API refused this message for another reason (bad template, content ...)."""


def error_for_code(errcode: int | None, errmsg: str) -> DeliveryError:
    """Map a WeChat ``errcode`` to the error class the drain acts on."""
    message = f"{errcode}: {errmsg}" if errcode is not None else errmsg
    if errcode is None or errcode in TRANSIENT_CODES:
        return TransientError(message, errcode)
    if errcode in TOKEN_CODES:
        return TokenError(message, errcode)
    if errcode in CHANNEL_CLOSED_CODES:
        return ChannelClosed(message, errcode)
    if errcode in RATE_LIMIT_CODES:
        return RateLimited(message, errcode)
    if errcode in UNREACHABLE_CODES:
        return Unreachable(message, errcode)
    return RejectedError(message, errcode)
