"""What a hand-dropped model must be before it reaches the endpoint, and what it is turned into.

A drop (`models/<name>/<label>/model.tar.gz`) is an unreviewed path to production, so:

- it is accepted only under a name the platform serves (`accept_name`);
- it never becomes champion by itself: it is registered as `challenger` and must win an A/B test
  against the serving champion; with no champion serving it is refused (`drop_alias`) - the first
  champion comes from the training DAG, which gates on held-out data;
- it is read as a stream with bounds on its compressed size, the decompressed bytes and the
  member count (`unpack`): a tar bomb is refused before it fills a disk, and nothing is extracted
  but the two data files the artifact format needs; the `.npz` inside is bounded alike;
- only its data survives: `repack` builds a new, byte-reproducible `model.tar.gz` from its
  `model.json`/`model.npz` and the project's own `inference.py`/`artifact.py` (the drop's `code/`
  is discarded, so a drop cannot run code of its own on the endpoint); the result is stored under
  the sha256 of its bytes (`content_key`), so overwriting the drop later changes nothing served.

`BadDrop` is raised for what is wrong with the drop itself (the task marks it rejected, once);
every other error - a full disk (OSError), S3 throttling - is left to propagate so the task retries
and the drop is looked at again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHAMPION, CHALLENGER = "champion", "challenger"
SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
DROP = re.compile(rf"^models/(?P<name>{SEGMENT})/(?P<label>{SEGMENT})/model\.tar\.gz$")
DATA_FILES = ("model.json", "model.npz")  # the artifact format's data (include/training/artifact.py)
SERVING_CODE = ("inference.py", "artifact.py")  # the project's handlers, shipped as code/<file>
CHUNK = 1 << 20


class BadDrop(ValueError):
    """The drop itself is unusable: reported once, marked rejected, never retried."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what a drop may make the worker read, write and allocate."""

    compressed_bytes: int = 1 << 30  # the object in S3
    decompressed_bytes: int = 4 << 30  # the tar stream after gunzip: members, headers, padding
    members: int = 1_000  # tar entries (a real artifact has four or five)
    npz_bytes: int = 4 << 30  # arrays inside model.npz once inflated by np.load

    def __post_init__(self) -> None:
        for name in ("compressed_bytes", "decompressed_bytes", "members", "npz_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be positive, not {getattr(self, name)}")


def accept_name(name: str, served: Collection[str]) -> None:
    """Drops are taken only for the model names the platform serves (settings.SERVED_MODEL_NAMES)."""
    if name not in served:
        raise BadDrop(
            f"models/{name}/ is not a served model name: drops are accepted under "
            f"{', '.join(f'models/{s}/' for s in sorted(served))} only"
        )


def drop_alias(name: str, has_champion: bool) -> str:
    """Always `challenger` (tested against the champion); refused while no champion serves."""
    if not has_champion:
        raise BadDrop(
            f"{name} has no champion serving, and a drop never becomes champion without an A/B test: the "
            "first champion comes from the model_training DAG; drop again under a new label once one serves"
        )
    return CHALLENGER


def content_key(name: str, sha256: str) -> str:
    """Where a registered drop's repacked artifact lives: named by its bytes, under models/ (the only
    prefix the serving role reads); `_sha256` is no label a drop can have (labels start alnum)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"models/{name}/_sha256/{sha256}/model.tar.gz"


class _Bounded(io.RawIOBase):
    """A read-only stream that refuses to yield more than `limit` bytes."""

    def __init__(self, inner: BinaryIO, limit: int, what: str) -> None:
        self.inner, self.limit, self.what, self.count = inner, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise BadDrop(f"{self.what} exceeds {self.limit:,} bytes (a tar bomb?): refused while reading")
        buffer[: len(data)] = data
        return len(data)


def _member_name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name


def unpack(compressed: BinaryIO, into: Path, limits: Limits = Limits()) -> dict[str, Path]:
    """Stream the gzipped tar once, writing only `model.json` and `model.npz` into `into`.

    Bounded while reading: the compressed bytes, the decompressed bytes, the member count. A data
    file that is no regular file (a link) or appears twice is refused. Format errors are BadDrop;
    an OSError of the disk (ENOSPC) is not caught: it is the worker's, not the drop's."""
    into.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    members = 0
    raw = _Bounded(compressed, limits.compressed_bytes, "model.tar.gz")
    inflated = _Bounded(
        gzip.GzipFile(fileobj=io.BufferedReader(raw, CHUNK), mode="rb"),
        limits.decompressed_bytes,
        "model.tar.gz decompressed",
    )
    try:
        with tarfile.open(fileobj=io.BufferedReader(inflated, CHUNK), mode="r|") as archive:
            for member in archive:
                members += 1
                if members > limits.members:
                    raise BadDrop(f"model.tar.gz has over {limits.members:,} members: refused while reading")
                name = _member_name(member)
                if name not in DATA_FILES:
                    continue  # code/ and anything else: discarded, never written
                if not member.isreg():
                    raise BadDrop(f"model.tar.gz: {name} is not a regular file ({member.type!r})")
                if name in found:
                    raise BadDrop(f"model.tar.gz holds {name} twice")
                source = archive.extractfile(member)
                with open(into / name, "wb") as target:
                    while chunk := source.read(CHUNK):
                        target.write(chunk)
                found[name] = into / name
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise BadDrop(f"model.tar.gz is not a readable gzipped tar: {type(err).__name__}: {err}") from err
    missing = [name for name in DATA_FILES if name not in found]
    if missing:
        raise BadDrop(f"model.tar.gz lacks {missing} (the artifact format of include/training/artifact.py)")
    return found


def check_model(directory: Path, limits: Limits = Limits()) -> dict[str, Any]:
    """Load the unpacked data as the endpoint will (JSON, `np.load(allow_pickle=False)`) and score
    once; returns kind, users, items. The npz's inflated size is bounded before anything loads."""
    from include.training.artifact import ScoringModel

    try:
        with zipfile.ZipFile(directory / "model.npz") as npz:
            inflated = sum(info.file_size for info in npz.infolist())
    except zipfile.BadZipFile as err:
        raise BadDrop(f"model.npz is not an npz archive: {err}") from err
    if inflated > limits.npz_bytes:
        raise BadDrop(f"model.npz inflates to {inflated:,} bytes, over the {limits.npz_bytes:,} limit")
    try:
        model = ScoringModel.load(directory)
        model.recommend_for(model.users[0] if model.users else "anyone", 5)
    except Exception as err:  # whatever the data makes loading raise is the drop's fault
        raise BadDrop(f"the model does not load or score: {type(err).__name__}: {err}") from err
    return {"kind": model.kind, "users": len(model.users), "items": len(model.items)}


def repack(directory: Path, target: Path) -> str:
    """Write the served `model.tar.gz`: the drop's data files and the project's serving code, with
    fixed order, times and owners and no name in the gzip header (same input, same bytes, same key).
    Returns its sha256."""
    code = Path(__file__).resolve().parent
    entries = [(name, directory / name) for name in DATA_FILES]
    entries += [(f"code/{name}", code / name) for name in SERVING_CODE]
    with (
        open(target, "wb") as out,
        gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = path.stat().st_size, 0, 0o644, 0, 0
            with open(path, "rb") as source:
                archive.addfile(info, source)
    digest = hashlib.sha256()
    with open(target, "rb") as written:
        while chunk := written.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
