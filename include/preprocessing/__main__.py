"""`python -m include.preprocessing [run|fit]`: the container's entry point.

  run (default)   MONTH=YYYY-MM: preprocess that landed month
  fit             --until YYYY-MM --window N: fit the preprocessing model on landed months
Environment: SSM_PREFIX (set by the task definition: /<project>/<env>/preprocessing), MONTH, RUN_ID
(optional; the DAG passes its run so that the manifest names the Airflow run that produced it).
Exit status 1 with `ERROR: <what and where>` for bad input or configuration, or an AWS call that
failed (the candidate is then incomplete and removed; the live month is untouched); 2 for usage errors.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

import boto3
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from include.preprocessing import job
from include.preprocessing.config import ConfigError
from include.preprocessing.custom import CustomCodeError
from include.preprocessing.model import ModelError
from include.preprocessing.schema import MalformedInput

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
EXPECTED_ERRORS = (MalformedInput, ConfigError, CustomCodeError, ModelError, job.InputMissing)


def _month(value: str) -> str:
    if not MONTH.match(value or ""):
        raise argparse.ArgumentTypeError(f"{value!r} is not a month YYYY-MM")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preprocessing")
    sub = parser.add_subparsers(dest="command")
    run_p = sub.add_parser("run", help="preprocess one month")
    run_p.add_argument("--month", type=_month, default=os.environ.get("MONTH"))
    fit_p = sub.add_parser("fit", help="fit the preprocessing model")
    fit_p.add_argument("--until", type=_month, default=os.environ.get("MONTH"))
    fit_p.add_argument("--window", type=int, default=int(os.environ.get("FIT_WINDOW_MONTHS", "3")))
    args = parser.parse_args(argv or sys.argv[1:] or ["run"])
    prefix = os.environ.get("SSM_PREFIX", "/mlops/dev/preprocessing")
    s3, ssm = boto3.client("s3"), boto3.client("ssm")
    try:
        if args.command == "fit":
            if not args.until or args.window < 1:
                parser.error("fit needs --until YYYY-MM (or MONTH) and --window >= 1")
            job.fit(s3, ssm, prefix, args.until, args.window)
        else:
            if not getattr(args, "month", None):
                parser.error("run needs MONTH=YYYY-MM or --month")
            job.run(s3, ssm, prefix, args.month, os.environ.get("RUN_ID") or None)
    except EXPECTED_ERRORS as err:
        print(f"ERROR: {err}", file=sys.stderr, flush=True)
        return 1
    except (ClientError, BotoCoreError, Boto3Error) as err:  # S3 or SSM refused a call (upload_file wraps
        # the refusal in S3UploadFailedError): the candidate's keys are removed, nothing live was touched
        print(f"ERROR: AWS call failed: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
