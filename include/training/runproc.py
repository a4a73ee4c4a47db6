"""Run a module of the training source directory inside a SageMaker Processing container.

`python3 runproc.py <sourcedir.tar.gz> <module> [args...]`: what the SageMaker SDK's
FrameworkProcessor does with its `runproc.sh`, in Python so that it needs nothing but the image's
interpreter: extract the source directory (the same content-addressed `sourcedir.tar.gz` the
training job runs), install the pins of its `requirements*.txt` the image does not already have at
that version, then run `<module>` as `__main__` with the remaining arguments. Standard library only:
it runs before anything is installed.
"""

from __future__ import annotations

import importlib.metadata
import runpy
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path


def missing_pins(lines: list[str]) -> list[str]:
    """The `name==version` pins not installed at exactly that version."""
    missing = []
    for line in lines:
        pin = line.split("#", 1)[0].strip()
        if not pin or "==" not in pin:
            continue
        name, version = (part.strip() for part in pin.split("==", 1))
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            missing.append(pin)
    return missing


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: runproc.py <sourcedir.tar.gz> <module> [args...]", file=sys.stderr)
        return 2
    archive, module, rest = Path(argv[0]), argv[1], argv[2:]
    if not archive.is_file():
        print(f"runproc: the source directory {archive} is missing (is the code input mounted?)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="sourcedir-"))
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(root, filter="data")
    lines: list[str] = []
    for requirements in sorted(root.glob("requirements*.txt")):
        lines += requirements.read_text().splitlines()
    missing = missing_pins(lines)
    if missing:
        print(f"runproc: installing {' '.join(missing)}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", *missing], check=True)
    sys.path.insert(0, str(root))
    sys.argv = [module, *rest]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
