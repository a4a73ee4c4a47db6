"""Deploy or update the platform's CloudFormation stacks, then publish their outputs to SSM."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from mlops.alerting import failure_alert
from mlops.assets import PLATFORM_STACKS
from mlops.operators.cloudformation import CloudFormationDeployOperator, PublishStackOutputsOperator
from mlops.settings import AWS_CONN_ID

# Deployment order: a stack comes after the stacks it depends on. Template paths are relative to
# the project root (the parent of dags/); stack names are <project>-<key>-<environment>.
# "project": the template's parameter for the project name; "reads": its SSM-typed parameters, as
# (stack key, OutputKey) of another stack's published output, passed with this deployment's prefix.
STACKS = {
    "platform": {"template": "infra/platform.yaml", "after": []},
    "preprocessing": {"template": "infra/preprocessing.yaml", "after": [], "project": "BucketPrefix"},
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
        "reads": {"CodeBucket": ("platform", "BucketName"), "AlertTopicArn": ("serving", "AlertTopicArn")},
    },
    # The alternative to the managed tracking server of the platform stack: deploy on request.
    # Its alarms go to the serving stack's alert topic: deploy it once the default stacks exist.
    "mlflow-selfhosted": {
        "template": "infra/mlflow-selfhosted.yaml",
        "after": [],
        "reads": {"AlertTopicArn": ("serving", "AlertTopicArn")},
    },
}
DEFAULT_STACKS = ["platform", "preprocessing", "serving", "personalize"]


def template_parameters(key: str, deployment) -> dict[str, str]:
    """What names the deployment in a stack's parameters: project, environment, where it reads."""
    spec = STACKS[key]
    return {
        spec.get("project", "ProjectName"): deployment.project,
        "Environment": deployment.environment,
        **{name: deployment.stack_output(*source) for name, source in spec.get("reads", {}).items()},
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


DOC = """
### Infrastructure bootstrap
Deploys the stacks of `infra/` in dependency order with CloudFormation change sets: a stack is
created when absent; otherwise a change set is computed, and executed only when it holds changes
(the task log lists them). A second run with nothing changed executes nothing. A failed deployment
fails its task with the stack events naming the resources that failed and why.

Stacks with function code (personalize: the recommendation API) get a `package_*` task first:
the code is zipped reproducibly into the platform bucket under a content-addressed key, so
unchanged code leaves the stack unchanged.

Each stack's outputs are then published to SSM under `/<project>/<environment>/stacks/<stack>/<OutputKey>`,
where the other DAGs read bucket names, ARNs and task definitions at run time.

Environments live side by side in one account: every name carries the environment
(`plugins/mlops/deployment.py`). The `environment` and `project` fields default to the Airflow
Variables `mlops_environment` and `mlops_project` (else `dev`, `mlops`), which the other DAGs read
too; a run for another environment than its Airflow's deploys that environment's stacks.

Parameters per stack come from the Airflow Variable `infra_parameters` (JSON,
`{"preprocessing": {"VpcId": "vpc-…", "SubnetIds": "subnet-a,subnet-b", "DropBucketName": "…"}}`)
and, for one run, from the `parameter_overrides` field of the trigger form, which wins.
A stack left in `ROLLBACK_COMPLETE` by a failed first creation is deleted and recreated only when
`recover_rollback_complete` is ticked.

Stack operations run as the CloudFormation service role of `infra/deployer.yaml` (passed as
`RoleARN`): Airflow's own role may pass it but cannot create IAM roles itself. The role is the
`cloudformation_role_arn` field, else the Variable `cloudformation_role_arn`, else the
`CloudFormationRoleArn` output of the `<project>-deployer-<environment>` stack a platform team
deployed by hand.
"""


@dag(
    dag_id="infra_bootstrap",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["infra", "cloudformation"],
    doc_md=DOC,
    default_args={
        "on_failure_callback": failure_alert(),
        "owner": "platform",
        "retries": 1,
        "retry_delay": timedelta(minutes=1),
    },
    params={
        "environment": Param(
            "",
            enum=["", "dev", "staging", "prod"],
            title="Environment",
            description="Empty: the Variable mlops_environment, else dev.",
        ),
        "project": Param(
            "",
            type="string",
            pattern=r"^([a-z][a-z0-9-]{1,20})?$",
            title="Project name",
            description="Empty: the Variable mlops_project, else mlops.",
        ),
        "stacks": Param(
            DEFAULT_STACKS,
            type="array",
            items={"type": "string", "enum": list(STACKS)},
            title="Stacks to deploy",
            description="Deployed in dependency order; the others are left as they are.",
        ),
        "parameter_overrides": Param(
            {},
            type="object",
            title="Parameter overrides",
            description='Per stack, e.g. {"preprocessing": {"LogRetentionDays": "60"}}; wins over infra_parameters.',
        ),
        "recover_rollback_complete": Param(
            False, type="boolean", title="Delete and recreate stacks stuck in ROLLBACK_COMPLETE"
        ),
        "cloudformation_role_arn": Param(
            "",
            type="string",
            title="CloudFormation service role",
            description="Empty: the Variable cloudformation_role_arn, else the deployer stack's CloudFormationRoleArn.",
        ),
    },
)
def infra_bootstrap():
    @task(execution_timeout=timedelta(minutes=2), retries=0, multiple_outputs=True)  # a bad form stays bad
    def plan(params=None) -> dict:
        """Resolve, per selected stack, its name and parameters; refuse unknown stacks early."""
        from airflow.sdk import Variable

        from mlops.deployment import Deployment, current

        base = Variable.get("infra_parameters", default={}, deserialize_json=True)
        overrides = params["parameter_overrides"] or {}
        unknown = sorted((set(params["stacks"]) | set(overrides)) - set(STACKS))
        if unknown:
            raise ValueError(f"unknown stacks {unknown}; known: {sorted(STACKS)}")
        configured = current()  # the Variables: what a form left empty means
        deployment = Deployment(
            params["project"] or configured.project, params["environment"] or configured.environment
        )
        env, project = deployment.environment, deployment.project
        role_arn = params.get("cloudformation_role_arn") or Variable.get("cloudformation_role_arn", default="")
        role_arn = role_arn or deployer_output(f"{project}-deployer-{env}", "CloudFormationRoleArn")
        common_tags = {"project": project, "environment": env, "managed-by": "airflow/infra_bootstrap"}
        specs = {
            key: {
                "selected": key in params["stacks"],
                "stack_name": deployment.stack_name(key),
                "parameters": {
                    **template_parameters(key, deployment),
                    **base.get(key, {}),
                    **overrides.get(key, {}),
                },
                "tags": common_tags,
                "recover_rollback_complete": params["recover_rollback_complete"],
                "role_arn": role_arn,
            }
            for key in STACKS
        }
        # One XCom per field (multiple_outputs), so each operator pulls exactly what it templates.
        flat = {f"{task_key(k)}__{field}": value for k, spec in specs.items() for field, value in spec.items()}
        return {"all": specs, "outputs_prefix": deployment.stack_outputs_prefix, **flat}

    @task.branch(execution_timeout=timedelta(minutes=1))
    def choose(stacks: dict) -> list[str]:
        chosen = []
        for key, spec in stacks.items():
            if spec["selected"]:
                chosen.append(f"deploy_{task_key(key)}")
                if "package" in STACKS[key]:
                    chosen.append(f"package_{task_key(key)}")
        return chosen

    @task(trigger_rule="none_failed_min_one_success", execution_timeout=timedelta(minutes=5))
    def package(stack_key: str, parameters: dict, outputs_prefix: str) -> dict:
        """Zip the stack's function code into the platform bucket; add its key to the parameters."""
        from pathlib import Path

        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from mlops.hooks.stack_outputs import StackOutputsHook
        from mlops.lambda_package import upload_package

        relative = STACKS[stack_key]["package"]
        dag_folder = Path(__file__).resolve().parent
        source = next((p for p in (dag_folder.parent / relative, dag_folder / relative) if p.is_dir()), None)
        if source is None:
            raise FileNotFoundError(f"code of stack {stack_key} not found: {relative} beside or inside {dag_folder}")
        outputs = StackOutputsHook(aws_conn_id=AWS_CONN_ID, prefix=outputs_prefix)
        bucket = outputs.get_outputs("platform", required=("BucketName",))
        key = upload_package(S3Hook(aws_conn_id=AWS_CONN_ID).get_conn(), source, bucket["BucketName"])
        print(f"{source} packaged as s3://{bucket['BucketName']}/{key}")
        return {**parameters, "CodeKey": key}

    @task(
        outlets=[PLATFORM_STACKS],
        trigger_rule="none_failed_min_one_success",
        execution_timeout=timedelta(minutes=2),
    )
    def summarize(stacks: dict, ti=None, outlet_events=None) -> dict:
        """One line per stack: what this run did to it."""
        done = {}
        for key in stacks:
            result = ti.xcom_pull(task_ids=f"deploy_{task_key(key)}")
            if result:
                done[key] = {k: result[k] for k in ("stack_name", "status", "action")}
                print(f"{key:<18} {result['stack_name']:<32} {result['action']:<9} {result['status']}")
        outlet_events[PLATFORM_STACKS].extra = {"stacks": done}
        return done

    plan_ = plan()
    chosen = choose(plan_["all"])
    summary = summarize(plan_["all"])
    published = {}
    for key, spec in STACKS.items():
        field = f"{task_key(key)}__"
        parameters = plan_[field + "parameters"]
        packaged = None
        if "package" in spec:
            packaged = package.override(task_id=f"package_{task_key(key)}")(key, parameters, plan_["outputs_prefix"])
            parameters = packaged
        deploy = CloudFormationDeployOperator(
            task_id=f"deploy_{task_key(key)}",
            aws_conn_id=AWS_CONN_ID,
            stack_name=plan_[field + "stack_name"],
            template_file=spec["template"],
            parameters=parameters,
            tags=plan_[field + "tags"],
            recover_rollback_complete=plan_[field + "recover_rollback_complete"],
            role_arn=plan_[field + "role_arn"],
            trigger_rule="none_failed_min_one_success",
            execution_timeout=timedelta(hours=2),
        )
        publish = PublishStackOutputsOperator(
            task_id=f"publish_{task_key(key)}",
            aws_conn_id=AWS_CONN_ID,
            stack_name=plan_[field + "stack_name"],
            stack_key=key,
            outputs_prefix=plan_["outputs_prefix"],
            execution_timeout=timedelta(minutes=5),
        )
        chosen >> deploy >> publish >> summary
        for upstream in spec["after"]:
            published[upstream] >> (packaged or deploy)
        if packaged is not None:
            chosen >> packaged
        published[key] = publish


infra_bootstrap()
