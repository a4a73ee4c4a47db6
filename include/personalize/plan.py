"""What a Personalize training run is called and may do: recipe rules and resource names.

Names are stable where Personalize resources are reused (dataset group, schema, dataset, solution,
campaign, event tracker) and carry a digest of the DAG run id where each run makes its own (solution
version, import job, staged data), so a rerun of the same DAG run finds what it made. Every name
starts with the deployment's prefix (`<project>-recommender-<environment>`, from
`mlops.deployment`), so two environments in one account never share a resource.
"""

from __future__ import annotations

import hashlib

RECIPE_ARN = "arn:aws:personalize:::recipe/{}"
UPDATE_MODE_RECIPES = ("aws-user-personalization", "aws-popularity-count")
DEFAULT_PREFIX = "mlops-recommender-dev"


def check_training_mode(recipe: str, mode: str) -> None:
    if mode == "UPDATE" and recipe not in UPDATE_MODE_RECIPES:
        raise ValueError(
            f"training_mode UPDATE is only possible with {', '.join(UPDATE_MODE_RECIPES)}; {recipe} retrains in FULL"
        )


def resource_names(recipe: str, mode: str, month: str, run_id: str, prefix: str = DEFAULT_PREFIX) -> dict[str, str]:
    suffix = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    short = recipe.removeprefix("aws-")
    return {
        "recipe_arn": RECIPE_ARN.format(recipe),
        "dataset_group": prefix,
        "schema": f"{prefix}-interactions",
        "dataset": f"{prefix}-interactions",
        "solution": f"{prefix}-{short}",
        "version_name": f"{month}-{mode.lower()}-{suffix}",
        "import_job": f"{prefix}-{month}-{suffix}",
        "campaign": f"{prefix}-{short}",
        "event_tracker": f"{prefix}-events",
        "data_key": f"interactions/month={month}/run={suffix}/interactions.csv",
    }
