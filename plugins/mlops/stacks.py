"""The platform's CloudFormation stacks: templates, dependency order, parameters, service role.

Shared by infra_bootstrap (deploys in dependency order), infra_teardown (deletes in the reverse
order) and `devstack.release` (the CI/CD workflow's deploy step): one table, one order. Imports
nothing at module level, so DAG files may import it at parse time.
"""

from __future__ import annotations

from mlops.settings import AWS_CONN_ID

# Deployment order: a stack comes after the stacks it depends on. Template paths are relative to
# the project root (the parent of dags/); stack names are <project>-<key>-<environment>.
# "project": the template's parameter for the project name; "reads": its SSM-typed parameters, as
# (stack key, OutputKey) of another stack's published output, passed with this deployment's prefix.
# "images": its image-tag parameters, each the tag of one of our images (include/image_tags.json:
# the digest of the image's sources), so the task definitions name the images built from this code.
STACKS = {
    "platform": {"template": "infra/platform.yaml", "after": []},
    "preprocessing": {
        "template": "infra/preprocessing.yaml",
        "after": [],
        "project": "BucketPrefix",
        "images": {"IngestImageTag": "raw-ingest", "PreprocessingImageTag": "preprocessing"},
    },
    "serving": {
        "template": "infra/serving.yaml",
        "after": ["platform"],
        "reads": {"ModelBucketName": ("platform", "BucketName")},
    },
    # The recommendation API's code is packaged into the platform bucket, then passed as CodeKey.
    "personalize": {
        "template": "infra/personalize.yaml",
        "after": ["platform", "serving"],
        "package": "include/recommendation_api",
        "reads": {
            "CodeBucket": ("platform", "BucketName"),
            "AlertTopicArn": ("serving", "AlertTopicArn"),
            "EndpointName": ("serving", "EndpointName"),
            "ConversionNamespace": ("serving", "ConversionNamespace"),
        },
    },
    # The alternative to the managed tracking server of the platform stack: deploy on request.
    # Its image is in the platform stack's repository, pushed by `make push-images` before this runs.
    # No "after": a second upstream would let its deploy run when the branch did not choose it.
    # Its alarms go to the serving stack's alert topic (read from SSM): deploy it after the defaults.
    "mlflow-selfhosted": {
        "template": "infra/mlflow-selfhosted.yaml",
        "after": [],
        "reads": {"AlertTopicArn": ("serving", "AlertTopicArn")},
        "images": {"MlflowImageTag": "mlflow"},
    },
}
DEFAULT_STACKS = ["platform", "preprocessing", "serving", "personalize"]


def template_parameters(key: str, deployment) -> dict[str, str]:
    """What names the deployment in a stack's parameters: project, environment, where it reads, and
    the tags of the images it runs."""
    from include.images import image_tag

    spec = STACKS[key]
    return {
        spec.get("project", "ProjectName"): deployment.project,
        "Environment": deployment.environment,
        **{name: deployment.stack_output(*source) for name, source in spec.get("reads", {}).items()},
        **{name: image_tag(image) for name, image in spec.get("images", {}).items()},
    }


def task_key(stack_key: str) -> str:
    return stack_key.replace("-", "_")


def deployer_output(stack_name: str, key: str) -> str:
    """An output of the deployer stack (deployed by hand from infra/deployer.yaml)."""
    from mlops.hooks.cloudformation import CloudFormationStackHook

    stack = CloudFormationStackHook(aws_conn_id=AWS_CONN_ID).get_stack(stack_name)
    outputs = CloudFormationStackHook.outputs_of(stack) if stack else {}
    if key not in outputs:
        raise ValueError(
            f"no CloudFormation service role: stack {stack_name} (infra/deployer.yaml, deployed once by an "
            f"administrator) {'has no output ' + key if stack else 'does not exist'}; deploy it, or set the "
            "cloudformation_role_arn field or Variable"
        )
    return outputs[key]


def deletion_order(keys=None) -> list[str]:
    """`keys` (default: every stack) in reverse dependency order: a stack is deleted only after
    every stack deployed after it."""
    keys = list(STACKS if keys is None else keys)
    unknown = sorted(set(keys) - set(STACKS))
    if unknown:
        raise ValueError(f"unknown stacks {unknown}; known: {sorted(STACKS)}")
    deploy_order: list[str] = []

    def visit(key: str) -> None:
        if key in deploy_order:
            return
        for upstream in STACKS[key]["after"]:
            visit(upstream)
        deploy_order.append(key)

    for key in STACKS:
        visit(key)
    return [key for key in reversed(deploy_order) if key in keys]


def dependents(key: str) -> list[str]:
    """The stacks deployed after `key` (they read its outputs): deleted before it."""
    return [other for other, spec in STACKS.items() if key in spec["after"]]


def cloudformation_role(project: str, environment: str, given: str = "") -> str:
    """The CloudFormation service role: `given`, else the Variable, else the deployer stack's output."""
    from airflow.sdk import Variable

    role_arn = given or Variable.get("cloudformation_role_arn", default="")
    return role_arn or deployer_output(f"{project}-deployer-{environment}", "CloudFormationRoleArn")
