"""ab_promotion end to end on the local stack: real models on a real endpoint, real customers of a
held-out month replayed through the recommendation API (the endpoint route and the conversion path,
over HTTPS with the key), the mSPRT deciding on what the API recorded; then failing challengers
rolled back."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from devstack.datasets import month_file
from devstack.replayer import TrafficReplayer, sessions_from
from include.preprocessing import job as preprocessing
from include.training import train
from tests.dags.conftest import states

pytestmark = pytest.mark.slow
DAG_ID = "ab_promotion"
FAST_TEST = {
    "traffic_share": 0.5,
    "min_sessions": 100,
    "min_detectable_lift": 0.3,
    "min_duration_hours": 0.0,
    "max_duration_hours": 0.1,
    "check_interval_minutes": 0.05,
}


def _tar(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(platform, stack, mlflow_server, tmp_path_factory):
    """Versions trained on real months by the training entry point and registered as model_training
    does: v1 popularity on 2011-08 (champion), v2 ALS on 2011-08..09 (challenger), v3 ALS (later
    challenger). 2011-10, which none has seen, is the held-out month the replayer plays."""
    import mlflow
    import pandas as pd

    root = tmp_path_factory.mktemp("ab-models")
    fitted = preprocessing.fit_files([(str(month_file(m)), m) for m in ("2011-08", "2011-09")], ["2011-08", "2011-09"])
    for month in ("2011-08", "2011-09", "2011-10"):
        preprocessing.process_file(str(month_file(month)), month, fitted, str(root / "out" / month), month)
        (root / "train" / month).mkdir(parents=True)
        (root / "out" / month / "interactions.parquet").rename(root / "train" / month / "interactions.parquet")

    sessions = sessions_from(pd.read_parquet(root / "train" / "2011-10" / "interactions.parquet"))
    bucket = stack.client("ssm").get_parameter(Name="/mlops/dev/stacks/platform/BucketName")["Parameter"]["Value"]
    s3 = stack.client("s3")
    client = mlflow.MlflowClient(mlflow_server.url)
    name = f"recommender-ab-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    specs = [
        ("popularity", {}, ["2011-08"]),
        ("als", {"factors": 32, "epochs": 10}, ["2011-08", "2011-09"]),
        ("als", {"factors": 16, "epochs": 5, "seed": 7}, ["2011-09"]),
    ]
    versions = []
    for index, (kind, hp, months) in enumerate(specs, start=1):
        train_dir = root / f"window-{index}"
        for month in months:
            (train_dir / month).mkdir(parents=True)
            (train_dir / month / "i.parquet").hardlink_to(root / "train" / month / "interactions.parquet")
        train.run({"model": kind, "seed": 1, **hp}, str(train_dir), None, None, str(root / f"model-{index}"))
        key = f"training/ab-test/{name}/{index}/output/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=key, Body=_tar(root / f"model-{index}"))
        artifact = f"s3://{bucket}/{key}"
        version = client.create_model_version(name, artifact, tags={"model_artifact": artifact}).version
        versions.append({"version": str(version), "artifact": artifact})
    return {"name": name, "versions": versions, "sessions": sessions, "bucket": bucket, "client": client}


def _package(stack, models, index: int, status_alias: str) -> str:
    """The version's model package, as model_training registers it (status from its alias)."""
    from include.images import framework_image
    from include.training.gate import approval_status
    from include.training.package import REQUIRES_PYTHON
    from mlops.deployment import Deployment
    from mlops.hooks.sagemaker_model_package import SageMakerModelPackageHook

    version = models["versions"][index]
    arn = SageMakerModelPackageHook(aws_conn_id="aws_default").create_package(
        Deployment().package_group,
        image=framework_image("us-east-1", REQUIRES_PYTHON),
        model_data_url=version["artifact"],
        approval_status=approval_status(status_alias),
        description=f"MLflow {models['name']} version {version['version']} (DAG run t)",
    )
    models["client"].set_model_version_tag(models["name"], version["version"], "model_package_arn", arn)
    return arn


def _endpoint(stack) -> dict:
    sagemaker = stack.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="mlops-recommender-dev")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return {"endpoint": endpoint, "variants": {v["VariantName"]: v["ModelName"] for v in config["ProductionVariants"]}}


def _configs(stack) -> list[str]:
    return [c["EndpointConfigName"] for c in stack.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]]


def _run(dag, conf: dict):
    run = dag.test(run_conf=conf)
    return run, states(run)


def _run_with_traffic(dag, stack, models, conf: dict):
    """A fast A/B run while the held-out month's customers are replayed against the endpoint."""
    replayer = TrafficReplayer.on_stack(stack, models["sessions"], rate=60).start()
    try:
        run, run_states = _run(dag, {**FAST_TEST, **conf})
    finally:
        replayed = replayer.stop()
    return run, run_states, replayed


def _ledger(stack, test_id: str) -> dict:
    item = stack.client("dynamodb").get_item(
        TableName="mlops-ab-tests-dev", Key={"endpoint_name": {"S": "mlops-recommender-dev"}, "test_id": {"S": test_id}}
    )["Item"]
    return {"status": item["status"]["S"], "record": json.loads(item["record"]["S"])}


def test_first_deployment_then_a_better_challenger_is_promoted(dag, models, stack, aws_conn, mlflow_conn, capfd):
    name, (v1, v2, _) = models["name"], models["versions"]
    client = models["client"]
    client.set_registered_model_alias(name, "champion", v1["version"])
    _package(stack, models, 0, "champion")
    package_v2 = _package(stack, models, 1, "challenger")

    run, states = _run(dag, {"model_name": name, "version": v1["version"]})
    assert run.state == "success", states
    assert states["start_test"] == "skipped" and states["conclude"] == "success"
    served = _endpoint(stack)
    assert served["endpoint"]["EndpointStatus"] == "InService"
    assert served["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v1['version']}"}

    client.set_registered_model_alias(name, "challenger", v2["version"])
    run, states, replayed = _run_with_traffic(dag, stack, models, {"model_name": name, "version": v2["version"]})
    out = capfd.readouterr().out
    with capfd.disabled():  # the shop's figures through the API (sessions/s is the per-request cost)
        print(f"\nreplayed through the recommendation API: {json.dumps(replayed)}", flush=True)
    assert replayed["errors"] == {}, replayed  # every session answered, every conversion accepted
    assert run.state == "success", (states, out[-3000:])
    assert states["promote_endpoint"] == "success" and states["retire_challenger"] == "skipped", states
    test_id = f"{name}-v{v1['version']}-vs-v{v2['version']}"
    ledger = _ledger(stack, test_id)
    figures = ledger["record"]["figures"]
    assert ledger["status"] == "promoted" and figures["outcome"] == "promote", ledger
    assert figures["p_value"] <= 0.05 and figures["lift"] > 0 and figures["ci_low"] > 0
    # the decision is on the replayed customers: the figures agree with what the application counted
    assert figures["challenger"]["sessions"] <= replayed["challenger"]["sessions"]
    assert replayed["challenger"]["rate"] > replayed["champion"]["rate"], replayed

    served = _endpoint(stack)
    assert served["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}
    # clean_up: v1's config, the A/B split's config and v1's model are gone; what serves stays
    assert states["clean_up"] == "success", states
    live = f"mlops-recommender-dev-{name}-v{v2['version']}"
    models_left = [m["ModelName"] for m in stack.client("sagemaker").list_models()["Models"]]
    assert [c for c in _configs(stack) if c.startswith("mlops-recommender-dev-")] == [live]
    assert [m for m in models_left if m.startswith("mlops-recommender-dev-")] == [live]
    assert client.get_model_version_by_alias(name, "champion").version == v2["version"]
    assert "challenger" not in client.get_registered_model(name).aliases
    tags = client.get_model_version(name, v2["version"]).tags
    assert tags["ab_outcome"] == "promoted" and tags["ab_test_id"] == test_id
    # every look (also those before min_sessions, which `looks` does not count) is kept and charted
    # beside the ledger; the version points at the chart
    history = ledger["record"]["history"]
    assert len(history) >= figures["looks"] and ledger["record"]["chart"] == tags["ab_chart"]
    arms = [figures[v][k] for v in ("champion", "challenger") for k in ("sessions", "conversions")]
    assert history[-1][1:5] == arms, (history[-1], figures)
    chart_key = tags["ab_chart"].split("/", 3)[3]
    assert stack.client("s3").get_object(Bucket=models["bucket"], Key=chart_key)["Body"].read()[:4] == b"\x89PNG"
    # the variants auto-scale: the promoted champion is a scalable target, the retired challenger no more
    targets = stack.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    scaled = {t["ResourceId"] for t in targets["ScalableTargets"] if "/mlops-recommender-dev/" in t["ResourceId"]}
    assert scaled == {"endpoint/mlops-recommender-dev/variant/champion"}, scaled
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=package_v2)
    assert package["ModelApprovalStatus"] == "Approved"

    # running it again changes nothing: no second endpoint config, no second variant
    configs = _configs(stack)
    run, states = _run(dag, {"model_name": name, "version": v2["version"], **FAST_TEST})
    assert run.state == "success", states
    assert _configs(stack) == configs
    assert _endpoint(stack)["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}


@pytest.fixture
def v2_serving(dag, models, stack, aws_conn, mlflow_conn):
    """v2 is the champion and serves alone (as the promotion test leaves it; deployed here otherwise)."""
    name, v2 = models["name"], models["versions"][1]
    client = models["client"]
    expected = {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}
    aliases = client.get_registered_model(name).aliases
    serving = _endpoint(stack)["variants"] if _endpoint_exists(stack) else None
    if aliases.get("champion") != v2["version"] or serving != expected:
        client.set_registered_model_alias(name, "champion", v2["version"])
        run, run_states = _run(dag, {"model_name": name, "version": v2["version"]})
        assert run.state == "success", run_states
        assert _endpoint(stack)["variants"] == expected
    return v2


def _endpoint_exists(stack) -> bool:
    names = [e["EndpointName"] for e in stack.client("sagemaker").list_endpoints()["Endpoints"]]
    return "mlops-recommender-dev" in names


def test_a_failing_challenger_is_rolled_back_by_its_guardrail(
    dag, models, v2_serving, stack, aws_conn, mlflow_conn, capfd
):
    name, (_, v2, v3) = models["name"], models["versions"]
    client = models["client"]
    client.set_registered_model_alias(name, "challenger", v3["version"])
    package_v3 = _package(stack, models, 2, "challenger")
    stack.faults.arm_model(f"mlops-recommender-dev-{name}-v{v3['version']}", error_rate=1.0)

    run, states, _ = _run_with_traffic(dag, stack, models, {"model_name": name, "version": v3["version"]})
    out = capfd.readouterr().out
    assert run.state == "success", (states, out[-3000:])
    assert states["retire_challenger"] == "success" and states["promote_traffic"] == "skipped", states
    ledger = _ledger(stack, f"{name}-v{v2['version']}-vs-v{v3['version']}")
    assert ledger["status"] == "rolled_back"
    assert "guardrail alarm" in ledger["record"]["figures"]["reason"]
    assert "mlops-dev-challenger-5xx-rate" in ledger["record"]["figures"]["alarms"]

    assert _endpoint(stack)["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}
    assert client.get_model_version_by_alias(name, "champion").version == v2["version"]
    assert "challenger" not in client.get_registered_model(name).aliases
    assert client.get_model_version(name, v3["version"]).tags["ab_outcome"] == "rolled_back"
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=package_v3)
    assert package["ModelApprovalStatus"] == "Rejected"


def _another_version(models, index: int) -> str:
    """A new version of an already trained model: a champion/challenger pair the ledger has not seen."""
    artifact = models["versions"][index]["artifact"]
    created = models["client"].create_model_version(models["name"], artifact, tags={"model_artifact": artifact})
    return str(created.version)


def _guardrails_clear(stack, timeout_s: float = 300) -> None:
    """Wait until no challenger guardrail alarm is in ALARM. The alarms watch the `challenger`
    variant, so a new test starting right after a failing challenger's would inherit its breach
    until that data leaves the alarm's window (as on AWS); an operator starts the next test after."""
    names = stack.client("ssm").get_parameter(Name="/mlops/dev/stacks/serving/ChallengerGuardrailAlarms")
    alarms = names["Parameter"]["Value"].split(",")
    cloudwatch, deadline = stack.client("cloudwatch"), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]
        current = {a["AlarmName"]: a["StateValue"] for a in described}
        if "ALARM" not in current.values():
            return
        time.sleep(2)
    raise AssertionError(f"guardrail alarms still in ALARM after {timeout_s}s: {current}")


def test_a_slow_challenger_is_rolled_back_by_its_latency_guardrail(
    dag, models, v2_serving, stack, aws_conn, mlflow_conn, capfd
):
    """The serving stack's other guardrail: p95 ModelLatency over 5 s (6 s per invocation here)."""
    _guardrails_clear(stack)
    name, v2 = models["name"], models["versions"][1]
    slow = _another_version(models, 2)
    stack.faults.arm_model(f"mlops-recommender-dev-{name}-v{slow}", error_rate=0.0, latency_ms=6000)

    conf = {"model_name": name, "version": slow, "max_duration_hours": 0.25}
    run, states, _ = _run_with_traffic(dag, stack, models, conf)
    out = capfd.readouterr().out
    assert run.state == "success", (states, out[-3000:])
    assert states["retire_challenger"] == "success" and states["promote_traffic"] == "skipped", states
    ledger = _ledger(stack, f"{name}-v{v2['version']}-vs-v{slow}")
    assert ledger["status"] == "rolled_back", ledger
    assert "mlops-dev-challenger-latency" in ledger["record"]["figures"]["alarms"], ledger
    assert _endpoint(stack)["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}
    assert models["client"].get_model_version(name, slow).tags["ab_outcome"] == "rolled_back"


def test_a_failing_watch_gives_the_champion_its_traffic_back(dag, models, v2_serving, stack, aws_conn, mlflow_conn):
    """The watch fails (conversions nobody was shown: more Conversions than Impressions for the
    challenger) - the teardown gives the champion all traffic back and serves it alone; the run
    fails, the registry is untouched, the test is marked aborted."""
    name, v2 = models["name"], models["versions"][1]
    challenger = _another_version(models, 0)
    cloudwatch = stack.client("cloudwatch")
    stop = threading.Event()

    def forge() -> None:
        while not stop.wait(1.0):
            cloudwatch.put_metric_data(
                Namespace="MLOps/Recommendations",
                MetricData=[
                    {
                        "MetricName": "Conversions",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": "mlops-recommender-dev"},
                            {"Name": "VariantName", "Value": "challenger"},
                        ],
                        "Value": 5.0,
                        "Unit": "Count",
                    }
                ],
            )

    forger = threading.Thread(target=forge, name="forged-conversions", daemon=True)
    forger.start()
    try:
        run, states = _run(dag, {"model_name": name, "version": challenger, **FAST_TEST})
    finally:
        stop.set()
        forger.join(timeout=10)
    assert run.state == "failed", states
    assert states["watch"] == "failed" and states["restore_champion"] == "success", states
    assert states["promote_traffic"] == states["conclude"] == "upstream_failed", states

    served = _endpoint(stack)
    assert served["variants"] == {"champion": f"mlops-recommender-dev-{name}-v{v2['version']}"}
    assert [(v["VariantName"], v["CurrentWeight"]) for v in served["endpoint"]["ProductionVariants"]] == [
        ("champion", 1.0)
    ]
    ledger = _ledger(stack, f"{name}-v{v2['version']}-vs-v{challenger}")
    assert ledger["status"] == "aborted" and "champion serves alone" in ledger["record"]["aborted"], ledger
    assert models["client"].get_model_version_by_alias(name, "champion").version == v2["version"]
    assert "ab_outcome" not in models["client"].get_model_version(name, challenger).tags
