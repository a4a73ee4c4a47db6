"""Where the project's real-world data lives: `shared/datasets/online-retail/` beside the checkout.

Tests, the demo and benchmarks read it from disk, never from the network. A fork keeps it anywhere
and says where with `ONLINE_RETAIL_DIR`.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from localaws.jobs import PROJECT_ROOT

RELATIVE = Path("shared") / "datasets" / "online-retail"


@cache
def online_retail_dir() -> Path:
    configured = os.environ.get("ONLINE_RETAIL_DIR")
    candidates = [Path(configured)] if configured else [parent / RELATIVE for parent in PROJECT_ROOT.parents]
    for candidate in candidates:
        if (candidate / "SHA256SUMS").is_file():
            return candidate
    raise FileNotFoundError(
        f"online-retail dataset not found (looked for SHA256SUMS in {', '.join(map(str, candidates))}); "
        "set ONLINE_RETAIL_DIR to the folder holding the monthly *.csv.gz files"
    )


def month_file(month: str) -> Path:
    path = online_retail_dir() / f"{month}.csv.gz"
    if not path.is_file():
        available = sorted(p.name.removesuffix(".csv.gz") for p in online_retail_dir().glob("*.csv.gz"))
        raise FileNotFoundError(f"no file for month {month} in {online_retail_dir()}; available: {available}")
    return path
