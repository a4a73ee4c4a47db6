"""The state of one emulated service for one (account, region), as moto keeps its own backends.

The stack creates one instance per (service, account, region) on first use (`LocalAwsStack.backend`,
classes listed in `registry.BACKENDS`) and, on a reset or stop, calls `shutdown()` before
forgetting it: what a backend runs (job processes, model servers, scratch directories) ends there.
"""

from __future__ import annotations

import threading


class AccountBackend:
    """`stack` gives the loopback boto3 clients and the fault injector; `_lock` guards the state,
    which handler threads (one per request) and job threads share."""

    def __init__(self, stack, account_id: str, region: str) -> None:
        self.stack = stack
        self.account_id = account_id
        self.region = region
        self._lock = threading.RLock()

    def shutdown(self) -> None:
        """Stop what this backend runs; nothing by default."""
