"""The CI/CD workflow: valid (actionlint), shaped as promised (test -> images -> deploy -> smoke,
dev then prod, OIDC, pinned actions), and its deploy and smoke commands run on the local stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack.airflow_env import aws_connection
from tests.conftest import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def _workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    return {("on" if k is True else k): v for k, v in loaded.items()}


def test_actionlint_passes_on_every_workflow():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yaml"))
    assert files
    done = subprocess.run([str(ACTIONLINT), *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check can fail: an unknown job dependency and a bad expression are reported."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    needs: nothere\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: echo ${{ github.nope( }}\n"
    )
    done = subprocess.run([str(ACTIONLINT), str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "nothere" in done.stdout


def test_release_runs_test_then_dev_then_prod_with_oidc_and_pinned_actions():
    release, deploy = _workflow("release.yaml"), _workflow("deploy.yaml")
    jobs = release["jobs"]
    assert jobs["release-dev"]["needs"] == "test" and jobs["release-prod"]["needs"] == "release-dev"
    assert [jobs[j]["with"]["environment"] for j in ("release-dev", "release-prod")] == ["dev", "prod"]
    assert release["permissions"] == {"contents": "read"}  # id-token only where AWS is reached
    for job in ("release-dev", "release-prod"):
        assert jobs[job]["permissions"]["id-token"] == "write"

    job = deploy["jobs"]["deploy"]
    assert job["environment"] == "${{ inputs.environment }}"  # prod's approval: its environment's reviewers
    steps = job["steps"]
    runs = [s.get("run", "") for s in steps]
    order = [
        next(i for i, r in enumerate(runs) if needle in r)
        for needle in ("devstack.release deploy", "push-images", "devstack.release smoke")
    ]  # the stacks hold the repositories: deployed before the images are pushed
    assert order == sorted(order)
    credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert steps.index(credentials) < order[0]  # AWS credentials before the first AWS step
    assert not any("secrets." in json.dumps(s) for s in steps)  # no long-lived keys
    for workflow in (release, deploy):
        for step in (s for j in workflow["jobs"].values() for s in j.get("steps", [])):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_the_ci_role_trusts_only_this_repository_in_its_environment(stack):
    cfn, iam = stack.client("cloudformation"), stack.client("iam")
    cfn.create_stack(
        StackName="mlops-github-staging",
        TemplateBody=(PROJECT_ROOT / "infra" / "github-oidc.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "Environment", "ParameterValue": "staging"},
            {"ParameterKey": "Repository", "ParameterValue": "acme/recommender"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName="mlops-github-staging", WaiterConfig={"Delay": 1})
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="mlops-github-staging")["Stacks"][0]["Outputs"]
    }
    assert outputs["ProviderArn"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=outputs["ProviderArn"])
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    trust = iam.get_role(RoleName="mlops-github-staging")["Role"]["AssumeRolePolicyDocument"]
    statement = trust["Statement"][0] if isinstance(trust, dict) else json.loads(trust)["Statement"][0]
    assert statement["Principal"] == {"Federated": outputs["ProviderArn"]}
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:acme/recommender:environment:staging",
    }


def _release(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devstack.release", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=PROJECT_ROOT,
    )


@pytest.mark.slow
def test_the_workflow_deploy_and_smoke_steps_on_the_local_stack(stack, platform, deployer, account):
    """`platform` deployed dev with the infra_bootstrap DAG; the workflow's deploy step (as the
    deployer role) finds every stack up to date - the same change-set code - and the smoke step
    calls the API over HTTP with its key."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(stack.url, stack.ca_bundle, deployer),
        "INFRA_PARAMETERS": json.dumps(account),
        "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}",
    }
    deployed = _release("deploy", "--env", "dev", "--aws-conn-id", "aws_default", "--wait-seconds", "2", env=env)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    lines = [
        line.split() for line in deployed.stdout.splitlines() if line.startswith(("platform", "pre", "serv", "pers"))
    ]
    assert [(line[0], line[2]) for line in lines] == [
        ("platform", "unchanged"),
        ("preprocessing", "unchanged"),
        ("serving", "unchanged"),
        ("personalize", "unchanged"),
    ], deployed.stdout

    admin = {**env, "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(stack.url, stack.ca_bundle)}
    smoke = ("smoke", "--env", "dev", "--aws-conn-id", "aws_default", "--endpoint-url", stack.url)
    smoked = _release(*smoke, "--ca-bundle", stack.ca_bundle, env=admin)
    assert smoked.returncode == 0, smoked.stdout + smoked.stderr[-3000:]
    assert "ok   without the API key the request is refused: HTTP 403" in smoked.stdout
    assert "ok   a malformed request is answered by the function: HTTP 400" in smoked.stdout
    # no campaign is published in this session's dev: a required recommendation fails the step
    strict = _release(*smoke, "--ca-bundle", stack.ca_bundle, "--require-recommendations", env=admin)
    published = "HTTP 200" in smoked.stdout.splitlines()[-1]
    assert (strict.returncode == 0) == published, strict.stdout
