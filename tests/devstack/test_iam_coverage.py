"""devstack.iam_coverage: template grants matched against what IAM allowed during a run."""

from __future__ import annotations

from pathlib import Path

from devstack.iam_coverage import INFRA, grants, unexercised

INGEST = "arn:aws:iam::123456789012:role/mlops-preprocessing-dev-IngestTaskRole-ABCDEF123456"
DEPLOYER = "arn:aws:iam::123456789012:role/mlops-airflow-dev"


def labels(found) -> set[str]:
    return {f"{g.role}/{g.sid} {g.action} {resource}" for g in found for resource in g.resources}


def test_grants_resolve_names_to_patterns():
    found = labels(grants([INFRA / "preprocessing.yaml"]))
    assert "IngestTaskRole/ReadDrop s3:GetObject arn:aws:s3:::*/*" in found
    assert "IngestTaskRole/WriteRawZone s3:PutObject arn:aws:s3:::*-input-*-*-*/raw/*" in found
    assert (
        "PreprocessingTaskRole/WriteFittedModel s3:PutObject arn:aws:s3:::*-artifact-*-*-*/preprocessing/model/*"
        in found
    )


def test_an_allowed_call_exercises_the_grant_it_matches_and_only_that_one():
    exercised = [
        {
            "principal": INGEST,
            "action": "s3:PutObject",
            "resource": "arn:aws:s3:::mlops-input-dev-123456789012-us-east-1/raw/online-retail/month=2011-10/x",
            "decision": "Allow",
        },
        {  # refused: exercises nothing
            "principal": INGEST,
            "action": "s3:DeleteObject",
            "resource": "arn:aws:s3:::mlops-input-dev-123456789012-us-east-1/raw/x",
            "decision": "ImplicitDeny",
        },
        {  # another role's call does not count for the ingest role
            "principal": DEPLOYER,
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::partner-drop/online-retail/2011-10.csv.gz",
            "decision": "Allow",
        },
    ]
    left = labels(unexercised(grants([INFRA / "preprocessing.yaml"]), exercised))
    assert "IngestTaskRole/WriteRawZone s3:PutObject arn:aws:s3:::*-input-*-*-*/raw/*" not in left
    assert "IngestTaskRole/WriteRawZone s3:DeleteObject arn:aws:s3:::*-input-*-*-*/raw/*" in left
    assert "IngestTaskRole/ReadDrop s3:GetObject arn:aws:s3:::*/*" in left


def test_named_roles_match_by_their_name():
    exercised = [
        {
            "principal": "arn:aws:sts::123456789012:assumed-role/mlops-airflow-dev/airflow_aws_default",
            "action": "cloudformation:GetTemplateSummary",
            "resource": "*",
            "decision": "Allow",
        }
    ]
    left = labels(unexercised(grants([INFRA / "deployer.yaml"]), exercised))
    assert not any(label.startswith("DeployerRole/ReadTemplateParameters ") for label in left)
    assert any(label.startswith("DeployerRole/ProjectStacks ") for label in left)


def test_every_grant_the_demo_did_not_exercise_is_justified_in_infra_readme():
    """On the list `make demo` recorded (a fixture refreshed from `.local/demo/iam-exercised.json`):
    a grant nothing used is either justified in infra/README.md's table or should go."""
    import json

    from devstack.iam_coverage import README, unjustified

    recorded = json.loads((Path(__file__).with_name("data") / "iam-exercised-demo.json").read_text())
    assert any(r["principal"].endswith(":role/mlops-airflow-dev") for r in recorded)
    left = unexercised(grants(sorted(INFRA.glob("*.yaml"))), recorded)
    missing = unjustified(left, README.read_text())
    assert not missing, "grants neither exercised by the demo nor justified:\n" + "\n".join(g.label() for g in missing)
