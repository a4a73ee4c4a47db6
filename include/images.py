"""Which Python each job image runs, and whether the job's code and pinned requirements fit it.

A job runs on AWS inside its image, not in the project's virtualenv: the image decides the Python
version and the platform its requirements are installed for. The first real deployment would find
a mismatch at `pip install` or at the first import; this module finds it before, statically:

- our images (`include/*/Dockerfile`, `docker/mlflow.Dockerfile`): Python from the `FROM python:X.Y`
  line, the code from the `COPY include/...` lines, the pins from the names the Dockerfile greps out
  of the lock file;
- SageMaker's scikit-learn framework images (script mode, training and serving): the versions,
  accounts and regions from the SageMaker SDK's own image-URI config (`sklearn.json`, read as a
  data file so nothing imports the SDK); the SDK only says "py3", so the Python of each version is
  taken from the image's Dockerfile in github.com/aws/sagemaker-scikit-learn-container
  (`docker/<version>/base/Dockerfile.cpu`), recorded in FRAMEWORK_PYTHON.

Two checks, each naming image, job and reason:
- `code_findings`: the job code's minimum Python, found by vermin (static analysis), must be no
  higher than the image's. Fast (about half a second, cached per code digest): the local stack runs
  it before every job.
- `resolve_findings`: the pins must resolve with wheels only (`uv pip compile --only-binary :all:`)
  for the image's Python and glibc platform against the package index this machine uses. It needs
  the index (seconds per image), so `make test` runs it, not the local stack.

The images we build (`BUILDS`) are tagged by `content_tag`, the digest of what each is made of
(Dockerfile, installed pins, copied files): `include/image_build.py` builds and pushes them under
it, `include/image_tags.json` records it for the DAGs, `parse_ecr_image` reads an image URI back.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.txt"

FRAMEWORK_REPOSITORY = "sagemaker-scikit-learn"
# Python and glibc platform of each scikit-learn framework version, from the container repository's
# docker/<version>/base/Dockerfile.cpu: 1.2-1 is Ubuntu 20.04 (glibc 2.31) with miniconda's Python
# 3.9; 1.4-2 is Ubuntu 24.04 (glibc 2.39) with deadsnakes' 3.10; 1.4-2-py312 the same with 3.12.
# A version missing here (the SDK lists more, e.g. 1.9-0) is never picked as a default, and the local
# stack refuses a job naming it: its Python is unknown, not assumed - add it here from its Dockerfile.
FRAMEWORK_PYTHON: dict[str, tuple[tuple[int, int], str]] = {
    "1.2-1": ((3, 9), "x86_64-manylinux_2_31"),
    "1.4-2": ((3, 10), "x86_64-manylinux_2_39"),
    "1.4-2-py312": ((3, 12), "x86_64-manylinux_2_39"),
}
# `python:X.Y-slim` is Debian; bookworm (glibc 2.36) is the oldest release the tag has pointed at
# since Python 3.11's images began.
PYTHON_SLIM_PLATFORM = "x86_64-manylinux_2_36"


@dataclass(frozen=True)
class Finding:
    image: str
    job: str
    reason: str

    def __str__(self) -> str:
        return f"{self.image} ({self.job}): {self.reason}"


@dataclass(frozen=True)
class JobImage:
    """One image a job runs in: where its Python comes from, what code it runs, what it installs."""

    image: str  # repository[:tag], as a task definition or a TrainingImage names it
    job: str
    python: tuple[int, int] | None
    platform: str
    code: tuple[str, ...]  # paths under the project root
    pins: tuple[str, ...]

    @property
    def python_text(self) -> str:
        return "unknown" if self.python is None else _dotted(self.python)


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


# ---------------------------------------------------------------------------------------------
# Framework images: the SDK's image-URI config
# ---------------------------------------------------------------------------------------------


def sdk_config(framework: str = "sklearn") -> dict:
    """The SageMaker SDK's `image_uri_config/<framework>.json`, located without importing the SDK."""
    path = importlib.metadata.distribution("sagemaker-core").locate_file(
        f"sagemaker/core/image_uri_config/{framework}.json"
    )
    return json.loads(Path(path).read_text())


def framework_tag_python(image: str) -> tuple[tuple[int, int], str] | None:
    """(Python, platform) of a `.../sagemaker-scikit-learn:<version>-cpu-py3` image, None if unknown."""
    repository, _, tag = image.rsplit("/", 1)[-1].partition(":")
    if repository != FRAMEWORK_REPOSITORY:
        return None
    match = re.fullmatch(r"(.+)-cpu-py3", tag)
    return FRAMEWORK_PYTHON.get(match.group(1)) if match else None


def framework_image(region: str, min_python: tuple[int, int], config: dict | None = None) -> str:
    """The scikit-learn framework image for `region` whose Python is the newest known and >= min_python.

    The version must be offered for training and for inference alike, so a model is served with
    the libraries it was trained with. Same URI as `sagemaker.core.image_uris.retrieve("sklearn",
    region, version, image_scope=...)` (tests/deploy/test_images.py compares them).
    """
    config = sdk_config() if config is None else config
    training, inference = config["training"]["versions"], config["inference"]["versions"]
    candidates = [
        (FRAMEWORK_PYTHON[v][0], v)
        for v in training
        if v in inference and v in FRAMEWORK_PYTHON and FRAMEWORK_PYTHON[v][0] >= min_python
    ]
    if not candidates:
        raise LookupError(
            f"no scikit-learn framework image runs Python >= {_dotted(min_python)} "
            f"(known: {', '.join(f'{v}: {_dotted(p[0])}' for v, p in FRAMEWORK_PYTHON.items())})"
        )
    version = max(candidates)[1]
    spec = training[version]
    registries = spec["registries"]
    if region not in registries:
        raise LookupError(f"scikit-learn {version} images are not offered in {region}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{registries[region]}.dkr.ecr.{region}.{domain}/{spec['repository']}:{version}-cpu-py3"


# ---------------------------------------------------------------------------------------------
# Our images: their Dockerfiles
# ---------------------------------------------------------------------------------------------


def _dockerfile_base(text: str) -> str:
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.MULTILINE))
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE).group(1)
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)


def base_python(base: str) -> tuple[tuple[int, int], str] | None:
    """(Python, platform) of a FROM image: `python:X.Y[-variant]` or a scikit-learn framework image."""
    match = re.fullmatch(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)[^/]*", base)
    if match:
        return _version(match.group(1)), PYTHON_SLIM_PLATFORM
    return framework_tag_python(base)


def dockerfile_pins(text: str, lock: str) -> tuple[str, ...]:
    """The pins a Dockerfile installs: the names it greps out of the lock file, at their locked version."""
    match = re.search(r"grep (?:-A0 )?-E '\^\(([^)]+)\)==", text)
    names = match.group(1).split("|") if match else []
    pins = []
    for name in names:
        found = re.search(rf"^({re.escape(name)}==[^\s\\]+)", lock, re.MULTILINE)
        pins.append(found.group(1) if found else name)  # unpinned: the resolve check reports it
    return tuple(pins)


def dockerfile_code(text: str) -> tuple[str, ...]:
    """The project code a Dockerfile copies (`COPY include/... dest`)."""
    code: list[str] = []
    for line in re.findall(r"^COPY\s+(?!--)(.+)$", text, re.MULTILINE):
        sources = line.split()[:-1]
        code += [s.rstrip("/") for s in sources if s.startswith("include/")]
    return tuple(code)


def dockerfile_image(repository: str, dockerfile: str, job: str, code: Sequence[str] = ()) -> JobImage:
    text = (ROOT / dockerfile).read_text()
    base = _dockerfile_base(text)
    python = base_python(base)
    return JobImage(
        image=repository,
        job=job,
        python=python[0] if python else None,
        platform=python[1] if python else "x86_64-manylinux_2_28",
        code=tuple(code) or dockerfile_code(text),
        pins=dockerfile_pins(text, LOCK.read_text()),
    )


def training_code() -> tuple[str, ...]:
    """What the script-mode source directory holds (include/training/package.py)."""
    return ("include/__init__.py", "include/training")


def serving_code() -> tuple[str, ...]:
    """What a model.tar.gz's `code/` holds (include/training/train.py, SERVING_FILES): the server runs
    only these, on the framework image's own packages (no requirements.txt travels with a model)."""
    from include.training.train import SERVING_FILES

    return tuple(f"include/training/{name}" for name in SERVING_FILES)


def job_images(region: str = "us-east-1") -> list[JobImage]:
    """Every image a job of this project runs in, as `make test` checks them."""
    from include.training.package import PROCESSING_REQUIREMENTS, REQUIRES_PYTHON, source_requirements

    default = framework_image(region, REQUIRES_PYTHON)
    python, platform = framework_tag_python(default)
    pins = tuple(source_requirements().decode().split())
    proc_pins = pins + tuple(source_requirements(PROCESSING_REQUIREMENTS).decode().split())
    return [
        dockerfile_image("mlops-raw-ingest", "include/jobs/Dockerfile", "raw_data_landing: raw ingest (ECS)"),
        dockerfile_image("mlops-preprocessing", "include/preprocessing/Dockerfile", "monthly_preprocessing (ECS)"),
        JobImage(default, "model_training (SageMaker training, script mode)", python, platform, training_code(), pins),
        JobImage(default, "ab_promotion/model_drop (SageMaker serving)", python, platform, serving_code(), ()),
        # the assessment's Processing job: the same source directory, plus its chart's pins (runproc.py)
        JobImage(default, "model_training assess (SageMaker Processing)", python, platform, training_code(), proc_pins),
        dockerfile_image(
            "mlops-training", "include/training/Dockerfile", "training and serving (prebuilt image)", training_code()
        ),
        # no project code runs in it: its check is the pins (the task's `python -c` is one import)
        dockerfile_image("mlops-mlflow", "docker/mlflow.Dockerfile", "self-hosted MLflow server (ECS service)"),
    ]


# ---------------------------------------------------------------------------------------------
# Our images as built and pushed: what each is made of, its tag, its URI
# ---------------------------------------------------------------------------------------------

# The tags Airflow names the images by (infra_bootstrap passes them to the stacks): computed here
# from the sources, committed, so Airflow needs neither the lock file nor docker/ at run time.
TAGS_FILE = ROOT / "include" / "image_tags.json"
TAGS_COMMAND = "make image-tags"


@dataclass(frozen=True)
class Build:
    """An image `make images` builds: its repository is `<project>-<name>-<environment>`."""

    name: str
    dockerfile: str
    what: str


BUILDS = (
    Build("raw-ingest", "include/jobs/Dockerfile", "raw_data_landing's ingest job (ECS task)"),
    Build("preprocessing", "include/preprocessing/Dockerfile", "monthly_preprocessing's job (ECS task)"),
    Build("training", "include/training/Dockerfile", "training and serving in script mode (SageMaker)"),
    Build("mlflow", "docker/mlflow.Dockerfile", "the self-hosted MLflow server (mlflow-selfhosted.yaml)"),
)


def build_named(name: str) -> Build:
    for build in BUILDS:
        if build.name == name:
            return build
    raise KeyError(f"no image {name!r}; images: {', '.join(b.name for b in BUILDS)}")


def _ignored(path: Path) -> bool:
    """What .dockerignore keeps out of the build context (and so out of the digest)."""
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def copied_sources(text: str) -> tuple[str, ...]:
    """Every source a Dockerfile COPYs from the build context (flags dropped; `--from` copies skipped)."""
    sources: list[str] = []
    for line in re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE):
        if "--from=" in line:
            continue
        words = [w for w in line.split() if not w.startswith("--")]
        sources += [w.rstrip("/") for w in words[:-1]]
    return tuple(sources)


def build_inputs(build: Build, root: Path = ROOT) -> list[tuple[str, bytes]]:
    """What the image is made of, as (name, content): the Dockerfile, the pins it installs from the
    lock (not the whole lock: an unrelated pin leaves the image as it is) and every file it copies."""
    text = (root / build.dockerfile).read_text()
    pins = dockerfile_pins(text, (root / "requirements.txt").read_text())
    inputs = [(build.dockerfile, text.encode()), ("pins", "\n".join(pins).encode())]
    for source in copied_sources(text):
        if source == "requirements.txt":
            continue  # the image keeps only the pins above
        path = root / source
        if not path.exists():
            raise FileNotFoundError(f"{build.dockerfile}: COPY {source}: no such file under {root}")
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _ignored(p)) if path.is_dir() else [path]
        inputs += [(f.relative_to(root).as_posix(), f.read_bytes()) for f in files]
    return inputs


def content_tag(build: Build, root: Path = ROOT) -> str:
    """`src-<16 hex>`: the digest of the image's inputs. Same sources, same tag; the repositories'
    tags are immutable, so a tag names exactly one image."""
    digest = hashlib.sha256()
    for name, content in build_inputs(build, root):
        digest.update(name.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return f"src-{digest.hexdigest()[:16]}"


def current_tags(root: Path = ROOT) -> dict[str, str]:
    return {build.name: content_tag(build, root) for build in BUILDS}


def committed_tags(path: Path = TAGS_FILE) -> dict[str, str]:
    """The tags of include/image_tags.json: what a DAG names (the Airflow side has no lock file)."""
    return json.loads(path.read_text())


def image_tag(name: str, path: Path = TAGS_FILE) -> str:
    tags = committed_tags(path)
    if name not in tags:
        raise KeyError(f"{path.name} has no tag for image {name!r}: run `{TAGS_COMMAND}`")
    return tags[name]


def write_tags(root: Path = ROOT, path: Path = TAGS_FILE) -> dict[str, str]:
    tags = current_tags(root)
    path.write_text(json.dumps(tags, indent=2, sort_keys=True) + "\n")
    return tags


def repository_name(name: str, project: str, environment: str) -> str:
    """`<project>-<name>-<environment>`, as infra/preprocessing.yaml and infra/platform.yaml name them."""
    return f"{project}-{name}-{environment}"


def registry_host(account: str, region: str) -> str:
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}"


@dataclass(frozen=True)
class EcrImage:
    """An image in a private ECR registry, named by tag (and/or digest)."""

    registry: str  # the account id
    region: str
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else f"{self.repository}@{self.digest}"


_ECR_URI = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def parse_ecr_image(uri: str) -> EcrImage | None:
    """The parts of `<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag][@digest]`; None if
    `uri` is not a private ECR image. Without tag or digest, `latest` (Docker's rule)."""
    match = _ECR_URI.match(uri)
    if match is None:
        return None
    tag, digest = match.group("tag"), match.group("digest")
    if tag is None and digest is None:
        tag = "latest"
    return EcrImage(match.group("registry"), match.group("region"), match.group("repository"), tag, digest)


def training_base(region: str, root: Path = ROOT, config: dict | None = None) -> str:
    """The training Dockerfile's base for `region`: the framework version of its `BASE_IMAGE`
    default, from that region's registry (the SDK's config). The version, not the region, is
    what the tag covers."""
    text = (root / build_named("training").dockerfile).read_text()
    default = re.search(r"^ARG\s+BASE_IMAGE=(\S+)", text, re.MULTILINE).group(1)
    version = re.fullmatch(r".*/sagemaker-scikit-learn:(.+)-cpu-py3", default).group(1)
    config = sdk_config() if config is None else config
    spec = config["training"]["versions"][version]
    if region not in spec["registries"]:
        raise LookupError(f"scikit-learn {version} images are not offered in {region}")
    return f"{registry_host(spec['registries'][region], region)}/{spec['repository']}:{version}-cpu-py3"


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------

_VERMIN = [sys.executable, "-c", "import sys; from vermin.main import main; sys.exit(main())"]
_cache: dict[str, list[tuple[str, tuple[int, int]]]] = {}
_cache_lock = threading.Lock()


def _python_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.suffix == ".py" else []
    return files


def code_requirements(paths: Iterable[str | Path], root: Path = ROOT) -> list[tuple[str, tuple[int, int]]]:
    """Each (file:line feature, minimum Python 3.x) vermin finds in the code; cached per content digest."""
    files = _python_files((root / p) for p in paths)
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    key = digest.hexdigest()
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    if not files:
        return []
    argv = [*_VERMIN, "--no-tips", "--no-parse-comments", "--format", "parsable", "-vv"]
    out = subprocess.run([*argv, *map(str, files)], capture_output=True, text=True, check=False, cwd=root)
    if out.returncode not in (0, 1) or not out.stdout:
        raise RuntimeError(f"vermin failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    found = []
    for line in out.stdout.splitlines():
        # file:line:column:py2:py3:feature - per-feature rows carry a line number and a feature
        match = re.match(r"^(.*):(\d+):\d*:[^:]*:(\d+\.\d+):(.+)$", line)
        if match and match.group(4).strip():
            name = Path(match.group(1))
            where = name.relative_to(root) if name.is_absolute() and name.is_relative_to(root) else name
            found.append((f"{where}:{match.group(2)} {match.group(4).strip()}", _version(match.group(3))))
    with _cache_lock:
        _cache[key] = found
    return found


def code_findings(image: JobImage, root: Path = ROOT) -> list[Finding]:
    """The job code needs no newer Python than the image runs (vermin's minimum per feature)."""
    if image.python is None:
        return [Finding(image.image, image.job, "the image's Python version is unknown to include/images.py")]
    found = code_requirements(image.code, root)
    too_new = sorted(((w, v) for w, v in found if v > image.python), key=lambda item: item[1], reverse=True)
    if not too_new:
        return []
    need = max(v for _, v in too_new)
    lines = "; ".join(f"{where} requires {_dotted(v)}" for where, v in too_new[:5])
    more = f" (+{len(too_new) - 5} more)" if len(too_new) > 5 else ""
    reason = f"the image runs Python {image.python_text}, the code needs {_dotted(need)}: {lines}{more}"
    return [Finding(image.image, image.job, reason)]


def _uv() -> str:
    local = Path(sys.executable).with_name("uv")
    return str(local) if local.exists() else "uv"


def resolve_findings(image: JobImage) -> list[Finding]:
    """The pins resolve with wheels only for the image's Python and platform (needs the package index)."""
    if image.python is None:
        return [Finding(image.image, image.job, "the image's Python version is unknown to include/images.py")]
    unpinned = [p for p in image.pins if "==" not in p]
    if unpinned:
        return [Finding(image.image, image.job, f"not pinned in requirements.txt: {', '.join(unpinned)}")]
    if not image.pins:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".in") as spec:
        spec.write("\n".join(image.pins) + "\n")
        spec.flush()
        argv = [_uv(), "pip", "compile", "-q", "--no-header", "--only-binary", ":all:"]
        argv += ["--python-version", image.python_text, "--python-platform", image.platform, spec.name]
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode == 0:
        return []
    cause = " ".join(line.strip() for line in out.stderr.splitlines() if line.strip() and "hint:" not in line)
    reason = f"the pins do not install on Python {image.python_text} ({image.platform}): {cause[:600]}"
    return [Finding(image.image, image.job, reason)]


def check(images: Sequence[JobImage], resolve: bool = True) -> list[Finding]:
    """Both checks for every image; the resolves (network-bound) run side by side, once per distinct
    (Python, platform, pins)."""
    findings: list[Finding] = []
    for image in images:
        findings += code_findings(image)
    if resolve:
        distinct = {(i.python, i.platform, i.pins): i for i in images}
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = dict(zip(distinct, pool.map(resolve_findings, distinct.values()), strict=True))
        for image in images:
            outcomes_for = outcomes[(image.python, image.platform, image.pins)]
            findings += [Finding(image.image, image.job, f.reason) for f in outcomes_for]
    return findings


# ---------------------------------------------------------------------------------------------
# At run time (the local stack): by image name
# ---------------------------------------------------------------------------------------------


def runtime_refusal(image: str, code: Sequence[str | Path] | None = None, root: Path = ROOT) -> str | None:
    """Why the local stack must not run `image` (None: run it). Only the fast, static part.

    `code`: the job's code as it will run (an extracted source directory); by default what the
    image's Dockerfile copies. Images unknown here (test probes, images.toml extras) are not checked.
    """
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    # each environment has its repository of the same image: `<project>-<image>-<env>`
    repository = re.sub(r"-(dev|staging|prod)$", "", repository)
    known = {"mlops-raw-ingest": "include/jobs/Dockerfile", "mlops-preprocessing": "include/preprocessing/Dockerfile"}
    if repository in known:
        spec = dockerfile_image(repository, known[repository], "job")
    elif repository == "mlops-training":
        spec = dockerfile_image(repository, "include/training/Dockerfile", "job", training_code())
    elif repository == FRAMEWORK_REPOSITORY:
        python = framework_tag_python(image)
        if python is None:
            return f"image {image}: scikit-learn framework version unknown to include/images.py (FRAMEWORK_PYTHON)"
        spec = JobImage(image, "job", python[0], python[1], training_code(), ())
    else:
        return None
    if code is not None:
        spec = JobImage(image, spec.job, spec.python, spec.platform, tuple(str(c) for c in code), spec.pins)
    findings = code_findings(spec, root)
    return f"image {image}: {findings[0].reason}" if findings else None


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m include.images [--python 3.8] [--region R] [--no-resolve]`: check every job image.

    `--framework-image REGION` prints the default training/serving image for a region instead.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--python", help="pretend every image runs this Python (to see the check bite)")
    parser.add_argument("--no-resolve", action="store_true", help="skip the package-index resolve")
    parser.add_argument("--framework-image", metavar="REGION", help="print the default framework image and exit")
    args = parser.parse_args(argv)
    if args.framework_image:
        from include.training.package import REQUIRES_PYTHON

        print(framework_image(args.framework_image, REQUIRES_PYTHON))
        return 0
    images = job_images(args.region)
    if args.python:
        images = [JobImage(i.image, i.job, _version(args.python), i.platform, i.code, i.pins) for i in images]
    findings = check(images, resolve=not args.no_resolve)
    for image in images:
        mine = [f for f in findings if f.image == image.image and f.job == image.job]
        print(f"{'FAIL' if mine else 'ok  '} {image.image} [{image.job}] Python {image.python_text} {image.platform}")
        for finding in mine:
            print(f"     {finding.reason}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
