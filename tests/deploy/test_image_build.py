"""The job images as `make images` / `make push-images` build and push them (include/image_build.py):
tags are the digest of each image's sources, the commands are right for a machine with Docker."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from include import image_build, images

ROOT = images.ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the images are built from: include/, docker/, the lock."""
    for folder in ("include", "docker"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    return tmp_path


def changed(tree: Path, edit) -> set[str]:
    """The images whose tag changes when `edit(tree)` runs."""
    before = images.current_tags(tree)
    edit(tree)
    after = images.current_tags(tree)
    return {name for name in before if before[name] != after[name]}


def append(path: str, text: str = "\n# changed\n"):
    def edit(tree: Path) -> None:
        with (tree / path).open("a") as fh:
            fh.write(text)

    return edit


def test_a_job_file_changes_its_image_tag_and_no_other(tree):
    assert changed(tree, append("include/jobs/raw_ingest.py")) == {"raw-ingest"}
    assert changed(tree, append("include/preprocessing/pipeline.py")) == {"preprocessing"}
    # the ingest image copies the limits it shares with the preprocessing job
    assert changed(tree, append("include/preprocessing/limits.py")) == {"raw-ingest", "preprocessing"}
    assert changed(tree, append("docker/mlflow.Dockerfile")) == {"mlflow"}
    assert changed(tree, append("include/training/Dockerfile")) == {"training"}


def test_unrelated_files_leave_every_tag_alone(tree):
    # training code travels as the script-mode source directory, not in the image
    assert changed(tree, append("include/training/train.py")) == set()
    assert changed(tree, append("include/abtest/msprt.py")) == set()
    cache = tree / "include" / "jobs" / "__pycache__"
    cache.mkdir(exist_ok=True)
    assert changed(tree, lambda t: (cache / "raw_ingest.cpython-311.pyc").write_bytes(b"\0")) == set()


def test_the_pins_an_image_installs_change_its_tag_other_pins_do_not(tree):
    lock = tree / "requirements.txt"

    def repin(name: str):
        def edit(tree: Path) -> None:
            text = lock.read_text()
            new, count = re.subn(rf"^{re.escape(name)}==([^\s\\]+)", rf"{name}==\g<1>.post9", text, flags=re.M)
            assert count == 1, name
            lock.write_text(new)

        return edit

    assert changed(tree, repin("apache-airflow")) == set()
    assert changed(tree, repin("pyarrow")) == {"preprocessing", "training"}
    assert changed(tree, repin("boto3")) == {"raw-ingest", "preprocessing", "mlflow"}


def test_tags_are_valid_ecr_tags_and_stable():
    tags = images.current_tags()
    assert tags == images.current_tags()
    assert all(re.fullmatch(r"src-[0-9a-f]{16}", t) for t in tags.values())
    assert set(tags) == {b.name for b in images.BUILDS}


def test_the_committed_tags_are_the_sources_digest():
    """include/image_tags.json is what the DAGs name: stale, they would run an older image."""
    stale = image_build.stale_tags()
    assert stale == {}, f"include/image_tags.json is stale: run `{images.TAGS_COMMAND}` ({stale})"


def test_every_image_has_its_repository_in_a_template():
    templates = "\n".join(p.read_text() for p in (ROOT / "infra").glob("*.yaml"))
    for build in images.BUILDS:
        assert re.search(rf'RepositoryName: !Sub "\$\{{\w+\}}-{build.name}-\$\{{Environment\}}"', templates), build


def test_make_images_dry_run_prints_docker_builds_named_by_tag(capsys):
    assert image_build.main(["build", "--dry-run", "--account", "111122223333", "--region", "eu-west-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tags = images.committed_tags()
    builds = [line for line in lines if line.startswith("docker build")]
    assert len(builds) == len(images.BUILDS)
    host = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
    assert (
        f"docker build --platform linux/amd64 --file include/jobs/Dockerfile --tag "
        f"{host}/mlops-raw-ingest-dev:{tags['raw-ingest']}" in builds[0]
    )
    assert all(line.endswith(" .") for line in builds)  # the project root is the context
    training = next(line for line in builds if "include/training/Dockerfile" in line)
    base = images.training_base("eu-west-1")
    assert f"--build-arg BASE_IMAGE={base}" in training and base.startswith("141502667606.dkr.ecr.eu-west-1")
    registry = base.split("/")[0]
    login = "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin"
    assert f"{login} {registry}" in lines


def test_make_push_images_dry_run_logs_in_and_pushes_every_tag(capsys):
    argv = ["push", "--dry-run", "--account", "111122223333", "--environment", "prod", "--only", "mlflow"]
    assert image_build.main(argv) == 0
    host = "111122223333.dkr.ecr.us-east-1.amazonaws.com"
    assert capsys.readouterr().out.splitlines() == [
        f"aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin {host}",
        f"docker push {host}/mlops-mlflow-prod:{images.committed_tags()['mlflow']}",
    ]


def test_a_dry_run_asks_aws_nothing_so_it_needs_the_account():
    with pytest.raises(SystemExit, match="--dry-run needs --account"):
        image_build.main(["push", "--dry-run"])


def test_ecr_image_uris_are_parsed():
    ref = images.parse_ecr_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-raw-ingest-dev:src-0123")
    assert (ref.registry, ref.region, ref.repository, ref.tag, ref.digest) == (
        "123456789012",
        "eu-west-1",
        "mlops-raw-ingest-dev",
        "src-0123",
        None,
    )
    assert str(ref) == "mlops-raw-ingest-dev:src-0123"
    assert images.parse_ecr_image("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app").tag == "latest"
    pinned = images.parse_ecr_image(f"123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{'a' * 64}")
    assert (pinned.tag, pinned.digest) == (None, f"sha256:{'a' * 64}")
    assert images.parse_ecr_image("python:3.11-slim") is None
    assert images.parse_ecr_image("ghcr.io/org/app:1") is None
