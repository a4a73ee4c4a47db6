"""`python -m devstack`: serve the local AWS stack (and MLflow) on loopback until interrupted.

Writes `<state-dir>/airflow.env`, the exports that point Airflow at it:
    source .local/airflow.env && airflow dags test raw_data_landing
With `--airflow`, also runs `airflow standalone` (API server and UI, scheduler, DAG processor,
triggerer) on that environment: the embedded default behind `make up`.

SIGINT or SIGTERM stops everything at any moment, start-up included: Airflow's process group,
the MLflow server's, then the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from devstack.airflow_env import airflow_environment
from devstack.mlflow_server import MlflowServer, ensure_artifact_bucket
from devstack.provision import deployer_role_arn, provision
from localaws.interrupt import Stopped, ignore_signals, raise_on_signals, wait_while
from localaws.server import LocalAwsStack


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--port", type=int, default=4566, help="AWS endpoint port (0 picks a free one)")
    parser.add_argument("--mlflow-port", type=int, default=5001, help="MLflow tracking server port")
    parser.add_argument("--no-mlflow", action="store_true", help="do not start the MLflow server")
    parser.add_argument("--provision", action="store_true", help="create the platform's local resources")
    parser.add_argument("--access-log", action="store_true", help="log every request (werkzeug access log)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (bucket policies then deny S3 calls)")
    parser.add_argument("--state-dir", type=Path, default=Path(".local"), help="where state and logs go")
    parser.add_argument("--airflow", action="store_true", help="also run `airflow standalone` (UI, scheduler, ...)")
    parser.add_argument("--airflow-port", type=int, default=8080, help="the Airflow UI / API server port")
    return parser.parse_args(argv)


def write_env_file(path: Path, env: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items())))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state_dir = args.state_dir.resolve()
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    raise_on_signals()  # before anything starts: Ctrl-C or SIGTERM during start-up stops what has started
    stack = mlflow = airflow = None
    try:
        # the CA lives with the state, so `source airflow.env` finds it while the stack runs
        stack = LocalAwsStack(args.host, args.port, tls=not args.no_tls, tls_dir=state_dir / "tls")
        stack.start()
        print(f"local AWS stack on {stack.url}", flush=True)
        if not args.no_mlflow:
            ensure_artifact_bucket(stack.client("s3"))
            mlflow = MlflowServer(state_dir / "mlflow", stack.url, args.host, args.mlflow_port, stack.ca_bundle)
            mlflow.launch()
            print(f"MLflow tracking server starting (pid {mlflow.pid})", flush=True)
            mlflow.wait_healthy()
            print(f"MLflow tracking server on {mlflow.url}", flush=True)
        infra_parameters = deployer = None
        if args.provision:
            infra_parameters = provision(stack.client)
            deployer = deployer_role_arn(stack.client)
            print(f"provisioned the account; stack parameters: {infra_parameters}", flush=True)
            print(f"Airflow's connection assumes {deployer} (infra/deployer.yaml)", flush=True)
        env_file = state_dir / "airflow.env"
        env = airflow_environment(
            state_dir / "airflow",
            stack.url,
            mlflow.url if mlflow else None,
            infra_parameters,
            stack.ca_bundle,
            deployer,
        )
        write_env_file(env_file, env)
        print(f"Airflow environment: source {env_file}", flush=True)
        if args.airflow:
            command, full_env, log_path = prepare_airflow(env, state_dir, args.host, args.airflow_port)
            with log_path.open("a") as log:
                airflow = subprocess.Popen(
                    command, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            print(
                f"Airflow UI on http://{args.host}:{args.airflow_port} (log: {log_path}); Ctrl-C stops everything",
                flush=True,
            )
        # until a signal, or Airflow stopping on its own (which stops the rest too)
        wait_while(lambda: airflow is None or airflow.poll() is None)
    except Stopped:
        pass
    finally:
        ignore_signals()
        print("stopping", flush=True)
        if airflow is not None:
            stop_process_group(airflow, 30)
        if mlflow is not None:
            mlflow.stop()
        if stack is not None:
            stack.stop()
    return 0


def stop_process_group(process: subprocess.Popen, timeout: float) -> None:
    """`airflow standalone` and the components it started are one process group: SIGTERM it, then
    SIGKILL what is left after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def prepare_airflow(env: dict[str, str], state_dir: Path, host: str, port: int) -> tuple[list[str], dict, Path]:
    """Migrate the metadata database and pause every DAG; returns how to run `airflow standalone` on
    the local environment (command, environment) and its log, <state-dir>/airflow/standalone.log."""
    log_path = state_dir / "airflow" / "standalone.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        **env,
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{host}:{port}",
        # loopback only, one user: the simple auth manager without a login page
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # standalone starts its components as `airflow ...`: the venv's, whatever the caller's PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    # A browsing session, not a production one: every DAG starts paused (the stacks of a fresh
    # local account are not deployed yet); unpause from the UI, infra_bootstrap first.
    full["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    with log_path.open("a") as log:
        subprocess.run([airflow_bin, "db", "migrate"], env=full, stdout=log, stderr=subprocess.STDOUT, check=True)
        subprocess.run(
            [airflow_bin, "dags", "pause", "--treat-dag-id-as-regex", ".*", "--yes"],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,  # nothing to pause in a new home
        )
    return [airflow_bin, "standalone"], full, log_path


if __name__ == "__main__":
    sys.exit(main())
