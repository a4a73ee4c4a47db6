"""What IAM decided during a run: (principal, action, resource, decision) with counts.

`make demo` writes it next to its report so every grant in `infra/` can be matched to a call that
needed it (or justified); `GET /_localaws/iam/exercised` and `LocalAwsStack.iam_exercised()`
return the same list.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Exercised:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, principal: str, action: str, resource: str, decision: str) -> None:
        with self._lock:
            self._counts[(principal, action, resource, decision)] += 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """Deduplicated, sorted by principal, action, resource."""
        with self._lock:
            items = sorted(self._counts.items())
        return [{"principal": p, "action": a, "resource": r, "decision": d, "count": n} for (p, a, r, d), n in items]
