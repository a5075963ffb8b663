"""Per-client token-bucket rate limit for /ask."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

_MAX_CLIENTS = 100_000


class RateLimiter:
    """`per_minute` requests a minute per client, in bursts of up to that many; 0 turns it off."""

    def __init__(self, per_minute: int, exempt: tuple[str, ...] = ()) -> None:
        self.per_minute = per_minute
        self.exempt = set(exempt)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """0 when the request may go ahead, else the seconds to wait."""
        if self.per_minute <= 0 or client in self.exempt:
            return 0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0
            else:
                self._buckets[client] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
            while len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait
