"""Personalize, Personalize Runtime and Personalize Events operations, served by the local backend."""

from __future__ import annotations

import uuid
from typing import Any

from localaws.wire import ApiCall, AwsError, Operations

operations = Operations()

SERVICE = "personalize"


def _backend(call: ApiCall):
    return call.stack.backend(SERVICE, call.account_id, call.region)


def _summary(resource, arn_key: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {
        "name": resource.name,
        arn_key: resource.arn,
        "status": resource.status,
        "creationDateTime": resource.created,
        "lastUpdatedDateTime": resource.modified,
    }
    out.update({k: resource.fields[k] for k in extra if k in resource.fields})
    if resource.failure_reason:
        out["failureReason"] = resource.failure_reason
    return out


# kind, create field returned, describe key, list key, arn key, filter param of List, summary extras
RESOURCES = {
    "DatasetGroup": ("dataset-group", "datasetGroupArn", "datasetGroup", "datasetGroups", None, ()),
    "Schema": ("schema", "schemaArn", "schema", "schemas", None, ()),
    "Dataset": ("dataset", "datasetArn", "dataset", "datasets", "datasetGroupArn", ("datasetType",)),
    "DatasetImportJob": (
        "dataset-import-job",
        "datasetImportJobArn",
        "datasetImportJob",
        "datasetImportJobs",
        "datasetArn",
        ("importMode",),
    ),
    "Solution": ("solution", "solutionArn", "solution", "solutions", "datasetGroupArn", ("recipeArn",)),
    "SolutionVersion": (
        "solution-version",
        "solutionVersionArn",
        "solutionVersion",
        "solutionVersions",
        "solutionArn",
        ("trainingMode",),
    ),
    "Campaign": ("campaign", "campaignArn", "campaign", "campaigns", "solutionArn", ()),
    "EventTracker": ("event-tracker", "eventTrackerArn", "eventTracker", "eventTrackers", "datasetGroupArn", ()),
}


def _register(resource: str) -> None:
    kind, arn_key, describe_key, list_key, list_filter, extras = RESOURCES[resource]
    name_key = "jobName" if resource == "DatasetImportJob" else "name"
    create = getattr(
        __import__("localaws.personalize.models", fromlist=["x"]).PersonalizeBackend, "create_" + kind.replace("-", "_")
    )

    @operations.handles(SERVICE, f"Create{resource}")
    def _create(call: ApiCall) -> dict[str, Any]:
        made = create(_backend(call), call.params)
        return {arn_key: made.arn, **({"trackingId": made.fields["trackingId"]} if resource == "EventTracker" else {})}

    @operations.handles(SERVICE, f"Describe{resource}")
    def _describe(call: ApiCall) -> dict[str, Any]:
        found = _backend(call).get(kind, call.params[arn_key])
        return {describe_key: found.describe(name_key)}

    @operations.handles(SERVICE, f"List{resource}s")
    def _list(call: ApiCall) -> dict[str, Any]:
        # campaigns are listed by solution: matched below through their solution version
        match = {}
        if list_filter and call.params.get(list_filter) and resource != "Campaign":
            match = {list_filter: call.params[list_filter]}
        found = _backend(call).of_kind(kind, **match)
        if resource == "Campaign" and call.params.get("solutionArn"):
            found = [c for c in found if c.fields["solutionVersionArn"].startswith(call.params["solutionArn"] + "/")]
        found.sort(key=lambda r: r.created, reverse=True)
        return {
            list_key: [
                _summary(r, arn_key, extras) | ({"jobName": r.name} if name_key == "jobName" else {}) for r in found
            ]
        }


for _resource in RESOURCES:
    _register(_resource)


@operations.handles(SERVICE, "GetSolutionMetrics")
def get_solution_metrics(call: ApiCall) -> dict[str, Any]:
    return _backend(call).solution_metrics(call.params["solutionVersionArn"])


@operations.handles(SERVICE, "UpdateCampaign")
def update_campaign(call: ApiCall) -> dict[str, Any]:
    return {"campaignArn": _backend(call).update_campaign(call.params).arn}


def _register_delete(resource: str) -> None:
    method = "delete_" + "".join("_" + c.lower() if c.isupper() else c for c in resource).lstrip("_")

    @operations.handles(SERVICE, f"Delete{resource}")
    def _delete(call: ApiCall) -> dict[str, Any]:
        getattr(_backend(call), method)(call.params)
        return {}


for _resource in ("Campaign", "Solution", "EventTracker", "Dataset", "DatasetGroup", "Schema"):
    _register_delete(_resource)


@operations.handles(SERVICE, "DescribeRecipe")
def describe_recipe(call: ApiCall) -> dict[str, Any]:
    from localaws.personalize import recipes

    arn = call.params["recipeArn"]
    if recipes.recipe_name(arn) not in recipes.RECIPES:
        raise AwsError("ResourceNotFoundException", f"Could not find recipe {arn}.", 400)
    return {"recipe": {"name": recipes.recipe_name(arn), "recipeArn": arn, "status": "ACTIVE"}}


# --- runtime and events ----------------------------------------------------------------------
@operations.handles("personalize-runtime", "GetRecommendations")
def get_recommendations(call: ApiCall) -> dict[str, Any]:
    p = call.params
    if not p.get("campaignArn"):
        raise AwsError("InvalidInputException", "campaignArn is required (recommenders are not served locally).", 400)
    model = _backend(call).serving_model(p["campaignArn"])
    n = int(p.get("numResults", 25))
    if not 1 <= n <= 500:
        raise AwsError("InvalidInputException", "numResults must be between 1 and 500.", 400)
    from localaws.personalize import recipes

    if model.recipe in recipes.SIMILAR_ITEMS and not p.get("itemId"):
        raise AwsError("InvalidInputException", "itemId is required for a similar-items campaign.", 400)
    if model.recipe not in recipes.SIMILAR_ITEMS and not p.get("userId"):
        raise AwsError("InvalidInputException", "userId is required for this campaign.", 400)
    items = model.recommend(p.get("userId"), n, p.get("itemId"))
    return {
        "itemList": [{"itemId": item, "score": round(score, 6)} for item, score in items],
        "recommendationId": f"RID-{uuid.uuid4()}",
    }


@operations.handles("personalize-runtime", "GetPersonalizedRanking")
def get_personalized_ranking(call: ApiCall) -> dict[str, Any]:
    p = call.params
    model = _backend(call).serving_model(p["campaignArn"])
    ranked = model.rank(p["userId"], list(p["inputList"]))
    return {
        "personalizedRanking": [{"itemId": item, "score": round(score, 6)} for item, score in ranked],
        "recommendationId": f"RID-{uuid.uuid4()}",
    }


@operations.handles("personalize-events", "PutEvents")
def put_events(call: ApiCall) -> dict[str, Any]:
    _backend(call).put_events(call.params)
    return {}
