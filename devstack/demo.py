"""`make demo`: the platform's lifecycle on real data, on this machine, with `airflow dags test`.

Starts the local AWS stack and MLflow, provisions the platform's resources, then runs every DAG in
lifecycle order as Airflow would (a fresh `airflow dags test` process each, deferrable waits
included), and ends with what each run produced. State and logs stay under `.local/demo/`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import PROJECT_ROOT
from devstack.airflow_env import airflow_environment
from devstack.mlflow_server import MlflowServer, ensure_artifact_bucket
from devstack.provision import deployer_role_arn, provision, push_images
from localaws.interrupt import Stopped, ignore_signals, raise_on_signals
from localaws.server import LocalAwsStack

STATE_DIR = Path(os.environ.get("LOCAL_DIR", PROJECT_ROOT / ".local")) / "demo"
EXERCISED_FILE = STATE_DIR / "iam-exercised.json"


def write_exercised(stack: LocalAwsStack) -> None:
    """What IAM decided during the demo - (principal, action, resource, decision, count) - for
    `python -m devstack.iam_coverage`, which lists the template grants nothing used."""
    records = stack.iam_exercised()
    EXERCISED_FILE.write_text(json.dumps(records, indent=1) + "\n")
    denied = [r for r in records if r["decision"] != "Allow"]
    print(f"-- IAM: {len(records)} (principal, action, resource) decisions, {len(denied)} refused; {EXERCISED_FILE}")


@dataclass
class Step:
    dag_id: str
    conf: dict
    title: str
    report: Callable[[LocalAwsStack, dict], str]
    # what runs beside the DAG (e.g. the shop's traffic during an A/B test)
    background: Callable[[LocalAwsStack], contextlib.AbstractContextManager] = field(
        default=lambda stack: contextlib.nullcontext()
    )
    # what follows a successful run before the next step (e.g. pushing the images once the
    # stacks hold their repositories); returns a line for the demo's output
    after: Callable[[LocalAwsStack], str] | None = None


def pushed_images(stack: LocalAwsStack) -> str:
    """`make push-images` on the local stack, right after the first deployment created the
    repositories: the DAGs check their images are in ECR before starting a job."""
    outcome = push_images(stack.client)
    return "images (make push-images): " + ", ".join(f"{name} {done}" for name, done in outcome.items())


def landed_month(stack: LocalAwsStack, conf: dict) -> str:
    ssm = stack.client("ssm")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/preprocessing/InputBucket")["Parameter"]["Value"]
    key = f"raw/online-retail/month={conf['month']}/_manifest.json"
    manifest = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return f"{manifest['rows']:,} rows landed in {manifest['data_uri']} (sha256 {manifest['sha256'][:12]}…)"


def processed_month(stack: LocalAwsStack, conf: dict) -> str:
    ssm = stack.client("ssm")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/preprocessing/OutputBucket")["Parameter"]["Value"]
    key = f"processed/month={conf['month']}/_manifest.json"
    report = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())["report"]
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(report["quarantined_by_reason"].items(), key=lambda kv: -kv[1]))
    return (
        f"{report['rows_in']:,} rows in, {report['rows_out']:,} interactions out, "
        f"{report['rows_quarantined']:,} quarantined ({reasons}); {report['users']:,} users and "
        f"{report['items']:,} items in the Feature Store"
    )


def trained_model(stack: LocalAwsStack, conf: dict) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    found = client.search_model_versions("name = 'recommender'")
    if not found:
        return "no model version registered"
    newest = max(found, key=lambda v: int(v.version))
    aliases = []
    for alias in ("champion", "challenger"):
        try:
            if client.get_model_version_by_alias("recommender", alias).version == newest.version:
                aliases.append(alias)
        except Exception:  # noqa: S112 - the alias does not exist (yet)
            continue
    return f"recommender v{newest.version} ({', '.join(aliases) or 'no alias'}): {newest.tags.get('gate', '')}"


def shop_traffic(stack: LocalAwsStack):
    """The shop: October 2011's real customers asking the recommendation API for the A/B endpoint's
    recommendations and reporting their purchases (over HTTPS, with the API key)."""
    from devstack.replayer import TrafficReplayer, month_sessions

    ssm = stack.client("ssm")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/preprocessing/OutputBucket")["Parameter"]["Value"]
    sessions = month_sessions(stack.client("s3"), bucket, "2011-10")
    return TrafficReplayer.on_stack(stack, sessions, rate=60)


def ab_outcome(stack: LocalAwsStack, conf: dict) -> str:
    sagemaker = stack.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="mlops-recommender-dev")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    serving = ", ".join(f"{v['VariantName']}={v['ModelName']}" for v in config["ProductionVariants"])
    items = stack.client("dynamodb").scan(TableName="mlops-ab-tests-dev")["Items"]
    tests = [json.loads(i["record"]["S"]) | {"status": i["status"]["S"], "id": i["test_id"]["S"]} for i in items]
    tests = [t for t in tests if t.get("challenger_version") == str(conf.get("version", t.get("challenger_version")))]
    if not tests:
        return f"endpoint {endpoint['EndpointStatus']}, serving {serving}"
    test = max(tests, key=lambda t: t.get("concluded_at", ""))
    f = test.get("figures") or {}
    champion, challenger = f.get("champion", {}), f.get("challenger", {})
    return (
        f"A/B {test['id']}: {test['status']} - {f.get('reason')}; champion {champion.get('conversions')}/"
        f"{champion.get('sessions')} ({champion.get('rate', 0):.1%}), challenger {challenger.get('conversions')}/"
        f"{challenger.get('sessions')} ({challenger.get('rate', 0):.1%}), lift {f.get('lift', float('nan')):+.3f} "
        f"[{f.get('ci_low', float('nan')):+.3f}, {f.get('ci_high', float('nan')):+.3f}], {f.get('looks')} looks; "
        f"endpoint now serves {serving}"
    )


def dropped_models(stack: LocalAwsStack, conf: dict) -> str:
    ssm = stack.client("ssm")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    s3 = stack.client("s3")
    markers = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="models/").get("Contents", [])]
    found = []
    for key in markers:
        if key.endswith("/_registration.json"):
            marker = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            if "hand" in key:
                found.append(f"{key.rsplit('/', 1)[0]}/: {marker['status']} (MLflow v{marker.get('mlflow_version')})")
    return "; ".join(found) or "no hand drops"


def drop_by_hand(stack: LocalAwsStack):
    """Someone copies the first (popularity) model to models/recommender/hand-baseline/ by hand."""
    ssm = stack.client("ssm")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    s3 = stack.client("s3")
    source = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="models/recommender/1/").get("Contents", [])
        if o["Key"].endswith("model.tar.gz")
    )
    s3.copy_object(
        Bucket=bucket, Key="models/recommender/hand-baseline/model.tar.gz", CopySource={"Bucket": bucket, "Key": source}
    )
    return contextlib.nullcontext()


def personalize_campaign(stack: LocalAwsStack, conf: dict) -> str:
    """The campaign's metrics, and the recommendation API's answer for a real customer - over HTTP at
    the stage URL with the API key, through API Gateway to the function in its own process."""
    from devstack.api_client import api_endpoint, get_recommendations
    from include.recommendation_api.handler import CAMPAIGN_PARAMETER

    ssm, personalize = stack.client("ssm"), stack.client("personalize")
    campaign = personalize.describe_campaign(
        campaignArn=ssm.get_parameter(Name=CAMPAIGN_PARAMETER)["Parameter"]["Value"]
    )["campaign"]
    metrics = personalize.get_solution_metrics(solutionVersionArn=campaign["solutionVersionArn"])["metrics"]
    url, key = api_endpoint(stack.client, stack.url)
    status, body, _ = get_recommendations(url, key, "12748", 5, cafile=stack.ca_bundle)
    refused, _, _ = get_recommendations(url, None, "12748", 5, cafile=stack.ca_bundle)
    items = [i["itemId"] for i in body.get("items", [])]
    return (
        f"campaign {campaign['name']} {campaign['status']} (NDCG@10 "
        f"{metrics['normalized_discounted_cumulative_gain_at_10']:.4f}, precision@10 {metrics['precision_at_10']:.4f}, "
        f"coverage {metrics['coverage']:.4f}); "
        f"GET {url.split('/_user_request_')[-1]}/12748?numResults=5 with the API key -> {status} {items or body}; "
        f"without -> {refused}"
    )


def catalogue_neighbours(stack: LocalAwsStack, conf: dict) -> str:
    """How many descriptions Bedrock embedded, and a new item of the month with its nearest neighbours."""
    import io

    import pandas as pd

    ssm, s3 = stack.client("ssm"), stack.client("s3")
    bucket = ssm.get_parameter(Name="/mlops/dev/stacks/preprocessing/OutputBucket")["Parameter"]["Value"]
    base = f"embeddings/model=amazon.titan-embed-text-v2:0/dimensions=256/month={conf['month']}/"

    def read(key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(s3.get_object(Bucket=bucket, Key=base + key)["Body"].read()))

    catalogue, similar = read("item_embeddings.parquet"), read("cold_start_similar_items.parquet")
    if similar.empty:
        return f"{len(catalogue):,} items embedded; no new items this month"
    names = catalogue.set_index("item_id")["description"]
    first = similar["item_id"].iloc[0]
    near = similar[similar["item_id"] == first].head(3)
    shown = ", ".join(
        f"{names.get(i, i)} ({score:.2f})" for i, score in zip(near.similar_item_id, near.score, strict=True)
    )
    return (
        f"{len(catalogue):,} items embedded (256 dims), {similar['item_id'].nunique():,} new items with neighbours; "
        f"e.g. {names.get(first, first)} -> {shown}"
    )


_events_seen: dict[str, int] = {}


def deployed_stacks(stack: LocalAwsStack, conf: dict) -> str:
    """Each stack's status, and whether this run changed it (its event count moved)."""
    cfn = stack.client("cloudformation")
    described = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith("mlops-")]
    parts = []
    for s in described:
        name = s["StackName"]
        events = len(cfn.describe_stack_events(StackName=name)["StackEvents"])
        changed = "unchanged" if _events_seen.get(name) == events else s["StackStatus"]
        _events_seen[name] = events
        parts.append(f"{name} {changed} ({len(s.get('Outputs', []))} outputs)")
    return ", ".join(parts)


# Minutes instead of weeks: enough traffic share and looks for the demo's replayed customers. The
# shop's sessions go through the API (gateway, function, endpoint, impressions table, metrics: five
# requests to the stack where the old replayer made one), so the limit leaves room for the ~6,400
# sessions the test needed at a few sessions per second on a busy 2-core machine; it ends on decision.
AB_FAST = {
    "traffic_share": 0.5,
    "min_sessions": 100,
    "min_detectable_lift": 0.3,
    "min_duration_hours": 0.0,
    "max_duration_hours": 0.5,
    "check_interval_minutes": 0.1,
}
# Lifecycle order. Every DAG in dags/ must appear here (tests/dags checks it).
LIFECYCLE = [
    Step("infra_bootstrap", {}, "deploy the platform's CloudFormation stacks", deployed_stacks, after=pushed_images),
    Step("infra_bootstrap", {}, "run again: nothing to change", deployed_stacks),
    *(
        Step("raw_data_landing", {"month": m}, f"land {m} from the partner drop", landed_month)
        for m in ("2011-08", "2011-09", "2011-10")
    ),
    Step(
        "monthly_preprocessing",
        {"month": "2011-08"},
        "preprocess 2011-08 on Fargate (fits the preprocessing model first)",
        processed_month,
    ),
    Step("monthly_preprocessing", {"month": "2011-09"}, "preprocess 2011-09 on Fargate", processed_month),
    Step("monthly_preprocessing", {"month": "2011-10"}, "preprocess 2011-10 on Fargate", processed_month),
    Step(
        "model_training",
        {"month": "2011-09", "training_window_months": 1},
        "no model yet: the repeat-aware default trained on August, scored on September, becomes the first champion",
        trained_model,
    ),
    Step("ab_promotion", {}, "first deployment: the champion alone on the endpoint", ab_outcome),
    Step(
        "model_training",
        {"month": "2011-10", "training_window_months": 2},
        "October drifts from August (5/7 features): retrain on August-September, gate on October -> challenger",
        trained_model,
    ),
    Step(
        "ab_promotion",
        {**AB_FAST},
        "A/B test on the endpoint while October's real customers shop (mSPRT, guardrails)",
        ab_outcome,
        background=shop_traffic,
    ),
    Step(
        "model_drop",
        {},
        "a model copied by hand to models/recommender/hand-baseline/ is checked and registered",
        dropped_models,
        background=drop_by_hand,
    ),
    Step(
        "catalogue_embeddings",
        {"month": "2011-10", "history_months": 2},
        "Bedrock (local: WordLlama as Titan V2): embed the catalogue's descriptions, neighbours for new items",
        catalogue_neighbours,
    ),
    Step(
        "personalize_training",
        {
            "month": "2011-10",
            "training_window_months": 3,
            "recipe": "aws-user-personalization",
            "check_interval_seconds": 2,
        },
        "Amazon Personalize: validate, import August-October, train, gate, create the campaign; call the API",
        personalize_campaign,
    ),
]


def run_step(step: Step, env: dict[str, str], log_dir: Path, index: int) -> tuple[bool, float, Path]:
    log_path = log_dir / f"{index:02d}-{step.dag_id}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "dags", "test", step.dag_id, "-c", json.dumps(step.conf)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    return result.returncode == 0, time.monotonic() - started, log_path


def main() -> int:
    """Ctrl-C or SIGTERM at any moment stops the DAG run in progress, MLflow and the stack."""
    raise_on_signals()
    try:
        return run_demo()
    except Stopped as stopped:
        print(f"\n== demo stopped ({stopped})", flush=True)
        return 128 + stopped.signum


def run_demo() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stack's access log: not progress
    logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)  # no git here
    started_at = time.monotonic()
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    log_dir = STATE_DIR / "logs"
    log_dir.mkdir(parents=True)
    port = int(os.environ.get("LOCALAWS_PORT", "0"))
    mlflow_port = int(os.environ.get("MLFLOW_PORT", "5001"))
    print(f"== mlops demo: state and logs in {STATE_DIR}", flush=True)
    with LocalAwsStack(port=port) as stack:
        print(f"-- local AWS stack on {stack.url}", flush=True)
        ensure_artifact_bucket(stack.client("s3"))
        with MlflowServer(STATE_DIR / "mlflow", stack.url, port=mlflow_port, ca_bundle=stack.ca_bundle) as mlflow:
            print(f"-- MLflow on {mlflow.url}", flush=True)
            os.environ["MLFLOW_TRACKING_URI"] = mlflow.url  # for the step reports
            infra_parameters = provision(stack.client)
            deployer = deployer_role_arn(stack.client)
            print(f"-- provisioned the account (network, partner drop): {infra_parameters}", flush=True)
            print(f"-- Airflow runs as {deployer} (infra/deployer.yaml); IAM enforced: {stack.enforce_iam}", flush=True)
            airflow_env = airflow_environment(
                STATE_DIR / "airflow", stack.url, mlflow.url, infra_parameters, stack.ca_bundle, deployer
            )
            env = {**os.environ, **airflow_env}
            subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print("-- Airflow metadata database ready", flush=True)
            results = []
            try:
                for index, step in enumerate(LIFECYCLE, start=1):
                    print(f"[{index}/{len(LIFECYCLE)}] {step.dag_id}: {step.title} ...", flush=True)
                    with step.background(stack) as companion:
                        ok, seconds, log_path = run_step(step, env, log_dir, index)
                    if hasattr(companion, "summary"):
                        print(f"      traffic: {companion.summary()}", flush=True)
                    produced = step.report(stack, step.conf) if ok else f"FAILED, see {log_path}"
                    print(f"      {'ok' if ok else 'FAILED'} in {seconds:.0f}s: {produced}", flush=True)
                    if ok and step.after is not None:
                        print(f"      {step.after(stack)}", flush=True)
                    results.append((step, ok, seconds, produced))
            finally:
                ignore_signals()  # stopping MLflow and the stack runs to the end
                write_exercised(stack)
    print("\n== summary")
    for step, ok, seconds, produced in results:
        print(f"{'ok  ' if ok else 'FAIL'} {step.dag_id:<22} {seconds:5.0f}s  {produced}")
    total = sum(r[2] for r in results)
    by_dag: dict[str, float] = {}
    for step, _, seconds, _ in results:
        by_dag[step.dag_id] = by_dag.get(step.dag_id, 0.0) + seconds
    print("\nwall time by DAG: " + ", ".join(f"{d} {s:.0f}s" for d, s in by_dag.items()))
    print(
        f"{sum(r[1] for r in results)}/{len(results)} DAG runs succeeded in {total:.0f}s of DAG time, "
        f"{time.monotonic() - started_at:.0f}s in all (set-up included); logs in {log_dir}"
    )
    print(
        "\nWhere to look: `make up` serves this demo's state - the Airflow UI on http://127.0.0.1:8080 (every "
        "DAG run above, its task logs and Asset events) and the MLflow UI on http://127.0.0.1:5001 (experiments "
        "recommender-training and personalize-training, model `recommender` with its aliases and A/B tags)."
    )
    return 0 if all(r[1] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
