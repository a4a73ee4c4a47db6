"""The hand-drop rules (include/training/drops.py) and the task's handling of them, without AWS."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError

from include.training import drops
from include.training.artifact import ScoringModel
from include.training.drops import BadDrop, Limits

TRAINING = Path(drops.__file__).resolve().parent


def model_files(tmp_path: Path) -> dict[str, bytes]:
    """A tiny real artifact: 3 users x 4 items, 2 factors."""
    rng = np.random.default_rng(1)
    ScoringModel(
        kind="als",
        users=["u1", "u2", "u3"],
        items=["a", "b", "c", "d"],
        item_factors=rng.normal(size=(4, 2)),
        item_bias=np.zeros(4),
        popularity=np.arange(4.0),
        user_factors=rng.normal(size=(3, 2)),
    ).save(tmp_path / "saved")
    return {name: (tmp_path / "saved" / name).read_bytes() for name in drops.DATA_FILES}


def tarball(members: list[tuple[str, bytes] | tarfile.TarInfo]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
                continue
            name, body = member
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


# --- names and aliases -------------------------------------------------------------------------
def test_drops_are_accepted_only_under_served_model_names():
    drops.accept_name("recommender", ("recommender",))
    with pytest.raises(BadDrop, match=r"models/other/ is not a served model name: .* under models/recommender/ only"):
        drops.accept_name("other", ("recommender",))


def test_a_drop_is_always_a_challenger_and_refused_without_a_champion():
    assert drops.drop_alias("recommender", has_champion=True) == "challenger"
    with pytest.raises(BadDrop, match=r"no champion serving.*first champion comes from the model_training DAG"):
        drops.drop_alias("recommender", has_champion=False)


def test_the_served_copy_is_named_by_its_digest_outside_any_drop_folder():
    key = drops.content_key("recommender", "ab" * 32)
    assert key == f"models/recommender/_sha256/{'ab' * 32}/model.tar.gz" and not drops.DROP.match(key)
    with pytest.raises(ValueError, match=r"not a sha256"):
        drops.content_key("recommender", "../x")
    assert drops.DROP.match("models/recommender/hand-1/model.tar.gz")["name"] == "recommender"


# --- streaming read with bounds ----------------------------------------------------------------
def test_only_the_data_files_are_unpacked_the_drops_code_is_discarded(tmp_path):
    files = model_files(tmp_path)
    body = tarball(
        [
            ("./model.json", files["model.json"]),
            ("model.npz", files["model.npz"]),
            ("code/inference.py", b"import os; os.system('curl evil')"),
            ("code/extra.py", b"x"),
        ]
    )
    found = drops.unpack(io.BytesIO(body), tmp_path / "out")
    assert sorted(found) == ["model.json", "model.npz"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.json", "model.npz"]
    assert drops.check_model(tmp_path / "out") == {"kind": "als", "users": 3, "items": 4}


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([("model.json", b"{}")], r"lacks \['model.npz'\]"),
        ([("model.json", b"{}"), ("model.json", b"{}"), ("model.npz", b"")], "holds model.json twice"),
    ],
)
def test_a_bad_layout_says_what_is_wrong(tmp_path, members, reason):
    with pytest.raises(BadDrop, match=reason):
        drops.unpack(io.BytesIO(tarball(members)), tmp_path / "out")


def test_a_link_in_place_of_a_data_file_is_refused(tmp_path):
    link = tarfile.TarInfo("model.npz")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(BadDrop, match=r"model.npz is not a regular file"):
        drops.unpack(io.BytesIO(tarball([("model.json", b"{}"), link])), tmp_path / "out")


@pytest.mark.parametrize(
    "body",
    [b"not a tarball at all", gzip.compress(b"no tar inside" * 100), tarball([("model.json", b"{}" * 5000)])[:60]],
    ids=["not-gzip", "not-tar", "truncated"],
)
def test_what_is_not_a_gzipped_tar_is_the_drops_fault(tmp_path, body):
    with pytest.raises(BadDrop, match=r"not a readable gzipped tar"):
        drops.unpack(io.BytesIO(body), tmp_path / "out")


def test_a_tar_bomb_is_refused_while_reading_before_it_fills_the_disk(tmp_path):
    bomb = io.BytesIO()  # 64 MiB of zeros as model.npz: about 64 KiB compressed
    with gzip.GzipFile(fileobj=bomb, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as archive:
        archive.addfile(tarfile.TarInfo("model.json"), io.BytesIO(b""))
        info = tarfile.TarInfo("model.npz")
        info.size = 64 << 20
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    assert len(bomb.getvalue()) < 1 << 20
    limits = Limits(decompressed_bytes=4 << 20)
    with pytest.raises(BadDrop, match=r"decompressed exceeds 4,194,304 bytes"):
        drops.unpack(io.BytesIO(bomb.getvalue()), tmp_path / "out", limits)
    written = sum(p.stat().st_size for p in (tmp_path / "out").iterdir())
    assert written <= 4 << 20  # refused while streaming, not after extracting
    with pytest.raises(BadDrop, match=r"model.tar.gz exceeds 1,000 bytes"):
        drops.unpack(io.BytesIO(bomb.getvalue()), tmp_path / "out2", Limits(compressed_bytes=1000))


def test_a_tar_of_countless_members_is_refused_while_reading(tmp_path):
    body = tarball([(f"junk/{i}", b"") for i in range(60)])
    with pytest.raises(BadDrop, match=r"over 50 members"):
        drops.unpack(io.BytesIO(body), tmp_path / "out", Limits(members=50))


def test_an_npz_that_inflates_past_the_limit_is_refused_before_loading(tmp_path):
    (tmp_path / "m").mkdir()
    np.savez_compressed(tmp_path / "m" / "model.npz", big=np.zeros(1 << 20))  # 8 MiB inflated
    (tmp_path / "m" / "model.json").write_text(json.dumps({"format_version": 1}))
    with pytest.raises(BadDrop, match=r"model.npz inflates to 8,388,"):
        drops.check_model(tmp_path / "m", Limits(npz_bytes=1 << 20))
    (tmp_path / "m" / "model.npz").write_bytes(b"junk")
    with pytest.raises(BadDrop, match=r"model.npz is not an npz archive"):
        drops.check_model(tmp_path / "m")


def test_data_that_does_not_load_is_the_drops_fault(tmp_path):
    (tmp_path / "m").mkdir()
    np.savez(tmp_path / "m" / "model.npz", item_factors=np.zeros((2, 2)))
    (tmp_path / "m" / "model.json").write_text(json.dumps({"format_version": 1, "kind": "x"}))
    with pytest.raises(BadDrop, match=r"the model does not load or score: KeyError"):
        drops.check_model(tmp_path / "m")


def test_a_full_disk_is_not_the_drops_fault(tmp_path, monkeypatch):
    files = model_files(tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(drops, "open", full, raising=False)
    with pytest.raises(OSError, match=r"No space left") as caught:
        drops.unpack(io.BytesIO(tarball(list(files.items()))), tmp_path / "out")
    assert not isinstance(caught.value, BadDrop)


# --- repack ------------------------------------------------------------------------------------
def test_the_repack_holds_the_data_and_the_projects_serving_code_and_is_reproducible(tmp_path):
    files = model_files(tmp_path)
    body = tarball([*files.items(), ("code/inference.py", b"evil"), ("code/artifact.py", b"evil")])
    drops.unpack(io.BytesIO(body), tmp_path / "data")
    first = drops.repack(tmp_path / "data", tmp_path / "one.tar.gz")
    second = drops.repack(tmp_path / "data", tmp_path / "two.tar.gz")
    assert first == second == hashlib.sha256((tmp_path / "one.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "one.tar.gz") as archive:
        assert archive.getnames() == ["model.json", "model.npz", "code/inference.py", "code/artifact.py"]
        for name in ("inference.py", "artifact.py"):
            assert archive.extractfile(f"code/{name}").read() == (TRAINING / name).read_bytes()
        assert archive.extractfile("model.npz").read() == files["model.npz"]


# --- the task: what marks a drop rejected, what leaves it for a retry --------------------------
class FakeS3:
    """The S3Hook calls model_drop makes, on a dict; `fail_get` raises on reading the drop."""

    def __init__(self, objects: dict[str, bytes], fail_get: Exception | None = None) -> None:
        self.objects, self.fail_get = objects, fail_get

    def __call__(self, aws_conn_id=None):
        return self

    def head_object(self, key, bucket):
        return {"ContentLength": len(self.objects[key])} if key in self.objects else None

    def get_key(self, key, bucket):
        if self.fail_get:
            raise self.fail_get
        body = io.BytesIO(self.objects[key])
        return type("Obj", (), {"get": lambda _self: {"Body": body}})()

    def check_for_key(self, key, bucket):
        return key in self.objects

    def load_file(self, path, key, bucket, replace=False):
        self.objects[key] = Path(path).read_bytes()

    def load_string(self, text, key, bucket, replace=False):
        self.objects[key] = text.encode()


class FakeMlflow:
    def __init__(self, conn_id=None) -> None:
        pass

    def version_by_alias(self, name, alias):
        return object()  # a champion serves


def register(monkeypatch, s3: FakeS3, name: str = "recommender"):
    from mlops.tasks import model_drop

    monkeypatch.setattr(model_drop, "S3Hook", s3)
    monkeypatch.setattr(model_drop, "MlflowHook", FakeMlflow)
    drop = {"bucket": "b", "key": f"models/{name}/hand/model.tar.gz", "name": name, "label": "hand"}
    return model_drop.register(
        drop,
        aws_conn_id="aws",
        mlflow_conn_id="mlflow",
        package_group="g",
        serving_image="img",
        run_id="r",
        served=("recommender",),
    )


def test_a_drop_under_an_unknown_name_is_rejected_with_the_reason(monkeypatch):
    s3 = FakeS3({"models/other/hand/model.tar.gz": b"x"})
    with pytest.raises(BadDrop, match=r"rejected .* models/other/ is not a served model name"):
        register(monkeypatch, s3, name="other")
    marker = json.loads(s3.objects["models/other/hand/_registration.json"])
    assert marker["status"] == "rejected" and "not a served model name" in marker["reason"]


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject"),
    ],
    ids=["disk-full", "throttled"],
)
def test_a_transient_error_leaves_no_mark_so_the_drop_is_retried(monkeypatch, error):
    s3 = FakeS3({"models/recommender/hand/model.tar.gz": b"x"}, fail_get=error)
    with pytest.raises(type(error)):
        register(monkeypatch, s3)
    assert "models/recommender/hand/_registration.json" not in s3.objects
