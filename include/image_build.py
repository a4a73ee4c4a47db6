"""`make images` / `make push-images`: build the job images and push them to the environment's ECR.

Each image is tagged with the digest of what it is made of (`include/images.py: content_tag`), and
Airflow names it by that tag (include/image_tags.json, committed; infra_bootstrap passes the tags to
the stacks' task definitions), so a DAG runs exactly the image built from the code it ships with.

    python -m include.image_build tags [--check]          # write (or check) include/image_tags.json
    python -m include.image_build build [--dry-run] ...   # docker build, one per image
    python -m include.image_build push  [--dry-run] ...   # ECR login, docker push of missing tags
    python -m include.image_build push --endpoint-url URL # the local stack: register (PutImage)

Pushing is idempotent: a tag already in the repository is left alone (the repositories' tags are
immutable, and the same tag means the same sources). The repositories come from the stacks
(preprocessing: raw-ingest, preprocessing; platform: training, mlflow): deploy them first.

Against the local stack (`--endpoint-url`) there is no Docker: the image is "pushed" by `PutImage`
with a manifest recording its inputs, so `DescribeImages` finds it as it would on AWS; the local
stack runs the job's entry point from localaws/images.toml in its place.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

from include import images

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"


def _chosen(only: Sequence[str] | None) -> list[images.Build]:
    return [images.build_named(n) for n in only] if only else list(images.BUILDS)


def stale_tags() -> dict[str, tuple[str | None, str]]:
    """name -> (committed, current) for every image whose committed tag is not its sources' digest."""
    committed = images.committed_tags() if images.TAGS_FILE.exists() else {}
    current = images.current_tags()
    return {n: (committed.get(n), t) for n, t in current.items() if committed.get(n) != t}


def require_current_tags() -> dict[str, str]:
    stale = stale_tags()
    if stale:
        listed = ", ".join(f"{n} {old} -> {new}" for n, (old, new) in sorted(stale.items()))
        raise SystemExit(
            f"{images.TAGS_FILE.relative_to(images.ROOT)} is stale ({listed}): run `{images.TAGS_COMMAND}` "
            "and commit it, so the DAGs name the images built from this code"
        )
    return images.committed_tags()


def image_uris(account: str, region: str, project: str, environment: str, only=None) -> dict[str, str]:
    """name -> `<registry>/<project>-<name>-<env>:<tag>` for the chosen images."""
    tags = require_current_tags()
    host = images.registry_host(account, region)
    return {
        b.name: f"{host}/{images.repository_name(b.name, project, environment)}:{tags[b.name]}" for b in _chosen(only)
    }


def login_commands(registry: str, region: str) -> list[str]:
    return [f"aws ecr get-login-password --region {region} | docker login --username AWS --password-stdin {registry}"]


def build_commands(uris: dict[str, str], region: str) -> list[str]:
    """The shell commands that build every image (from the project root, for Fargate's x86_64)."""
    commands: list[str] = []
    for name, uri in uris.items():
        build = images.build_named(name)
        argv = ["docker", "build", "--platform", "linux/amd64", "--file", build.dockerfile, "--tag", uri]
        argv += ["--label", f"org.opencontainers.image.version={uri.rsplit(':', 1)[1]}"]
        if name == "training":  # SageMaker's framework image of the region: log in to its registry first
            base = images.training_base(region)
            commands += login_commands(base.split("/", 1)[0], region)
            argv += ["--build-arg", f"BASE_IMAGE={base}"]
        commands.append(shlex.join([*argv, "."]))
    return commands


def _run(command: str) -> None:
    print(f"+ {command}", flush=True)
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, cwd=images.ROOT)


def _ecr(region: str, endpoint_url: str | None):
    import boto3

    return boto3.client("ecr", region_name=region, endpoint_url=endpoint_url)


def _present(ecr, uri: str) -> bool:
    """Whether the tag is in its repository already (a missing repository says which stack makes it)."""
    ref = images.parse_ecr_image(uri)
    try:
        ecr.describe_images(registryId=ref.registry, repositoryName=ref.repository, imageIds=[{"imageTag": ref.tag}])
        return True
    except ecr.exceptions.ImageNotFoundException:
        return False
    except ecr.exceptions.RepositoryNotFoundException as err:
        raise SystemExit(
            f"repository {ref.repository} does not exist in {ref.registry}/{ref.region}: deploy the stacks first "
            "(infra_bootstrap: preprocessing holds raw-ingest and preprocessing, platform holds training and mlflow)"
        ) from err


def local_manifest(name: str, tag: str) -> str:
    """What the local stack stores for an image: a Docker v2 manifest whose config records the
    image's inputs by digest (nothing pulls layers locally: images.toml's entry point runs)."""
    import hashlib

    inputs = {n: hashlib.sha256(content).hexdigest() for n, content in images.build_inputs(images.build_named(name))}
    labels = {"org.opencontainers.image.version": tag}
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {"Labels": labels}, "inputs": inputs}, sort_keys=True
    ).encode()
    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": config_digest},
            "layers": [],
        },
        sort_keys=True,
    )


def push_commands(uris: dict[str, str], region: str) -> list[str]:
    """What `push` runs for missing tags, all of them listed (a dry run asks AWS nothing)."""
    registry = next(iter(uris.values())).split("/", 1)[0]
    return login_commands(registry, region) + [f"docker push {shlex.quote(uri)}" for uri in uris.values()]


def push(ecr, uris: dict[str, str], region: str) -> dict[str, str]:
    """`docker push` every image whose tag the repository lacks (one ECR login first); name -> outcome."""
    outcome: dict[str, str] = {}
    logged_in = False
    for name, uri in uris.items():
        if _present(ecr, uri):
            outcome[name] = "present"
            continue
        if not logged_in:
            for command in login_commands(uri.split("/", 1)[0], region):
                _run(command)
            logged_in = True
        _run(f"docker push {shlex.quote(uri)}")
        outcome[name] = "pushed"
    return outcome


def register(ecr, uris: dict[str, str]) -> dict[str, str]:
    """The local stack's push: `PutImage` of each image whose tag the repository lacks, so that
    `DescribeImages` (the DAGs' check) and the ECS agent's manifest fetch find it; name -> outcome."""
    outcome: dict[str, str] = {}
    for name, uri in uris.items():
        if _present(ecr, uri):
            outcome[name] = "present"
            continue
        ref = images.parse_ecr_image(uri)
        ecr.put_image(
            registryId=ref.registry,
            repositoryName=ref.repository,
            imageTag=ref.tag,
            imageManifest=local_manifest(name, ref.tag),
            imageManifestMediaType=MANIFEST_TYPE,
        )
        outcome[name] = "registered"
    return outcome


def _account(args) -> str:
    if args.account:
        return args.account
    if args.dry_run:
        raise SystemExit("--dry-run needs --account (or ACCOUNT=...): it asks AWS nothing")
    import boto3

    return boto3.client("sts", region_name=args.region, endpoint_url=args.endpoint_url).get_caller_identity()["Account"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.image_build", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["tags", "build", "push", "uris"])
    parser.add_argument("--check", action="store_true", help="tags: fail if include/image_tags.json is stale")
    parser.add_argument("--project", default=os.environ.get("PROJECT") or "mlops")
    parser.add_argument("--environment", default=os.environ.get("ENVIRONMENT") or "dev")
    parser.add_argument("--account", default=os.environ.get("ACCOUNT") or None)
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    parser.add_argument("--endpoint-url", default=os.environ.get("ENDPOINT_URL") or None, help="the local stack")
    parser.add_argument("--only", action="append", help="one image (repeatable): raw-ingest, preprocessing, ...")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)

    if args.command == "tags":
        if args.check:
            require_current_tags()
            print(f"{images.TAGS_FILE.relative_to(images.ROOT)} is current")
        else:
            for name, tag in images.write_tags().items():
                print(f"{name:<14} {tag}")
        return 0
    uris = image_uris(_account(args), args.region, args.project, args.environment, args.only)
    if args.command == "uris":
        for name, uri in uris.items():
            print(f"{name:<14} {uri}")
    elif args.command == "build":
        if args.endpoint_url:
            raise SystemExit("build needs Docker; the local stack takes `push --endpoint-url` (no build)")
        for command in build_commands(uris, args.region):
            if args.dry_run:
                print(command)
            else:
                _run(command)
    elif args.dry_run:
        lines = [f"put-image {u} (endpoint {args.endpoint_url})" for u in uris.values()] if args.endpoint_url else []
        print("\n".join(lines or push_commands(uris, args.region)))
    else:
        ecr = _ecr(args.region, args.endpoint_url)
        outcome = register(ecr, uris) if args.endpoint_url else push(ecr, uris, args.region)
        for name, done in outcome.items():
            print(f"{done:<10} {uris[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
