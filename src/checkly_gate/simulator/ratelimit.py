"""The account's request budget: a token bucket shared by every request the simulator answers.

Checkly allows about 600 requests per 60 s per account ("600 requests every 60 seconds" on most
routes), shared by every pipeline of the account. The simulator models it as a token bucket of
``limit`` tokens refilled continuously over ``period`` seconds: each request takes one token
(a long-poll takes one when it starts); with none left the answer is 429 with ``Retry-After``
saying, rounded up to whole seconds as HTTP requires, when the next token is free. A refused
request takes no token. Real time, not divided by the simulator's ``speed``.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")
DEFAULT_RATE_LIMIT = "600/60"


@dataclass(frozen=True)
class RateLimit:
    """``limit`` requests per ``period`` seconds."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period > 0 or not math.isfinite(self.period):
            raise ValueError(f"rate limit must be N/SECONDS with N >= 1 and SECONDS > 0: {self}")


def parse_rate_limit(text: str) -> RateLimit | None:
    """``"600/60"`` -> RateLimit(600, 60.0); ``"off"`` or ``"0"`` -> None (no budget).

    Raises ValueError with a one-line message for anything else.
    """
    value = text.strip().lower()
    if value in ("off", "none", "0"):
        return None
    match = _SPEC.match(value)
    if match is None:
        raise ValueError(
            f"--rate-limit must look like 600/60 (requests/seconds) or off, got {text!r}"
        )
    return RateLimit(int(match.group(1)), float(match.group(2)))


class TokenBucket:
    """Thread-safe token bucket. Times are ``time.monotonic()`` seconds given by the caller."""

    def __init__(self, rate: RateLimit, now: float) -> None:
        self.rate = rate
        self._tokens = float(rate.limit)
        self._at = now
        self._lock = threading.Lock()
        self.refused = 0

    def take(self, now: float) -> float | None:
        """Take one token: None when taken, else the seconds until one is free (> 0)."""
        per_second = self.rate.limit / self.rate.period
        with self._lock:
            elapsed = max(0.0, now - self._at)
            self._tokens = min(float(self.rate.limit), self._tokens + elapsed * per_second)
            self._at = max(self._at, now)
            if self._tokens >= 1.0 - 1e-9:  # float rounding of the refill is not a wait
                self._tokens = max(0.0, self._tokens - 1.0)
                return None
            self.refused += 1
            return (1.0 - self._tokens) / per_second

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` value for a wait: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait)))
