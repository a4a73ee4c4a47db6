"""Which deployment a task works for, and every AWS name that follows from it.

`dev` and `prod` share one account without colliding because every name the stacks and DAGs use
carries the environment: stacks `<project>-<key>-<env>`, SSM parameters under `/<project>/<env>/`,
the model package group, the endpoint, Personalize's resources. This is their one home; the
templates in `infra/` build the same names from their `ProjectName`/`Environment` parameters.

The deployment is read at run time (never at parse time: this module imports nothing) from the
Airflow Variables `mlops_project` (default `mlops`) and `mlops_environment` (default `dev`), so one
Airflow serves one environment, set by `AIRFLOW_VAR_MLOPS_ENVIRONMENT` or the Variable.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT_VARIABLE, ENVIRONMENT_VARIABLE = "mlops_project", "mlops_environment"
DEFAULT_PROJECT, DEFAULT_ENVIRONMENT = "mlops", "dev"
ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Deployment:
    project: str = DEFAULT_PROJECT
    environment: str = DEFAULT_ENVIRONMENT

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"environment {self.environment!r} is none of {ENVIRONMENTS}")

    def stack_name(self, stack_key: str) -> str:
        return f"{self.project}-{stack_key}-{self.environment}"

    @property
    def parameter_root(self) -> str:
        """Every SSM parameter of this deployment lives under it."""
        return f"/{self.project}/{self.environment}"

    @property
    def stack_outputs_prefix(self) -> str:
        """`<prefix>/<stack-key>/<OutputKey>`: where infra_bootstrap publishes stack outputs."""
        return f"{self.parameter_root}/stacks"

    def stack_output(self, stack_key: str, output_key: str) -> str:
        return f"{self.stack_outputs_prefix}/{stack_key}/{output_key}"

    @property
    def preprocessing_prefix(self) -> str:
        """The preprocessing job's settings (infra/preprocessing.yaml owns them)."""
        return f"{self.parameter_root}/preprocessing"

    @property
    def max_bad_share_parameter(self) -> str:
        return f"{self.preprocessing_prefix}/max-bad-share"

    @property
    def campaign_parameter(self) -> str:
        """The serving campaign's ARN: personalize_training writes it, the recommendation API reads it."""
        return f"{self.parameter_root}/personalize/campaign-arn"

    @property
    def tracking_parameter(self) -> str:
        return f"{self.parameter_root}/personalize/tracking-id"

    @property
    def recommender(self) -> str:
        """`<project>-recommender-<env>`: the name the recommender's AWS resources share."""
        return f"{self.project}-recommender-{self.environment}"

    @property
    def package_group(self) -> str:
        """SageMaker model package group mirroring the MLflow versions."""
        return self.recommender

    @property
    def endpoint(self) -> str:
        """The A/B endpoint (also the serving stack's `EndpointName` output)."""
        return self.recommender

    @property
    def personalize_prefix(self) -> str:
        """Prefix of every Personalize resource name (dataset group, solution, campaign...)."""
        return self.recommender

    @property
    def training_job_prefix(self) -> str:
        """SageMaker training jobs: `<prefix>-<model>-<yyyymm>-<run digest>`."""
        return self.recommender


def current() -> Deployment:
    """The deployment of this Airflow, from its Variables (environment variables work too)."""
    from airflow.sdk import Variable

    return Deployment(
        Variable.get(PROJECT_VARIABLE, default=DEFAULT_PROJECT),
        Variable.get(ENVIRONMENT_VARIABLE, default=DEFAULT_ENVIRONMENT),
    )
