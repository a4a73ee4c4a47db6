"""Where the project's real-world data lives: `shared/datasets/online-retail/` beside the checkout.

Tests, the demo and benchmarks read it from disk, never from the network. A fork keeps it anywhere
and says where with `ONLINE_RETAIL_DIR`.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

from devstack import PROJECT_ROOT

RELATIVE = Path("shared") / "datasets" / "online-retail"


def _origin_checkout() -> Path | None:
    """A clone made from a local checkout (as CI does) finds the data beside that checkout."""
    try:
        url = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    url = url.removeprefix("file://")
    return Path(url).resolve() if url.startswith("/") else None


@cache
def online_retail_dir() -> Path:
    configured = os.environ.get("ONLINE_RETAIL_DIR")
    if configured:
        candidates = [Path(configured)]
    else:
        origin = _origin_checkout()
        roots = [*PROJECT_ROOT.parents, *(origin.parents if origin else [])]
        candidates = [parent / RELATIVE for parent in roots]
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
