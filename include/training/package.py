"""The script-mode source directory: what `sagemaker_submit_directory` points at.

A reproducible `sourcedir.tar.gz` (sorted entries, fixed times and owners, so the same code gives
the same bytes and the same content-addressed key) holding the training package, a top-level
entry script for `sagemaker_program`, and a `requirements.txt` the framework image installs: the
package's own `include/training/requirements.txt` (never the project root's lock, which MWAA,
Astro or an image need not ship).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "train_entry.py"
ENTRY_SOURCE = (
    b'"""SageMaker script-mode entry: see include/training/train.py."""\n'
    b"import sys\n\nfrom include.training.train import main\n\nsys.exit(main())\n"
)
# What the framework image may lack; the rest (numpy, pandas, scipy) it has. Pinned beside the code.
JOB_REQUIREMENTS = ("implicit", "pyarrow", "threadpoolctl")
# What the assessment's Processing job adds (its drift chart); `runproc.py` installs both files.
PROCESSING_REQUIREMENTS = ("matplotlib",)
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
# The oldest Python this source directory runs on: what the default framework image must offer
# (include/images.py). Declared, because vermin is a dev tool; tests/deploy/test_images.py fails
# when vermin finds the code needing a newer one.
REQUIRES_PYTHON = (3, 10)


def source_requirements(names: tuple[str, ...] = JOB_REQUIREMENTS) -> bytes:
    """The pins of `names` from the package's requirements file; a missing one is an error."""
    text = REQUIREMENTS.read_text()
    pins = []
    for name in names:
        match = re.search(rf"^({re.escape(name)}==[^\s\\]+)", text, re.MULTILINE)
        if match is None:
            raise ValueError(f"{REQUIREMENTS} pins no {name}: the training job needs it")
        pins.append(match.group(1))
    return ("\n".join(pins) + "\n").encode()


def _files() -> list[tuple[str, bytes]]:
    files = [
        (ENTRY, ENTRY_SOURCE),
        ("requirements.txt", source_requirements()),
        ("requirements-processing.txt", source_requirements(PROCESSING_REQUIREMENTS)),
        ("include/__init__.py", b""),
    ]
    for path in sorted((ROOT / "include" / "training").rglob("*.py")):
        files.append((str(path.relative_to(ROOT)), path.read_bytes()))
    return files


def build_sourcedir() -> tuple[bytes, str]:
    """(tar.gz bytes, sha256 hex) of the source directory."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in _files():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            archive.addfile(info, io.BytesIO(data))
    body = gzip.compress(raw.getvalue(), mtime=0)
    return body, hashlib.sha256(body).hexdigest()
