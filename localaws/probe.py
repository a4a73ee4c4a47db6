"""A tiny container entry point for testing the stack's job runner (the `localaws-probe` image).

Arguments are `key=value` pairs: `lines=N` prints N numbered lines, `sleep=S` waits S seconds,
`exit=C` exits with code C, `echo=NAME` prints an environment variable, `whoami=1` prints the
caller identity its credentials give (`whoami=<ARN>`) or the error class (`whoami=NoCredentialsError`).
"""

import os
import sys
import time


def main(argv: list[str]) -> int:
    args = dict(a.split("=", 1) for a in argv)
    for name in args.get("echo", "").split(","):
        if name:
            print(f"{name}={os.environ.get(name, '')}")
    if args.get("whoami"):
        import boto3

        try:
            print(f"whoami={boto3.client('sts').get_caller_identity()['Arn']}")
        except Exception as err:  # what the SDK says when the task has no usable credentials
            print(f"whoami={type(err).__name__}")
    for i in range(int(args.get("lines", 0))):
        print(f"probe line {i + 1}")
    sys.stdout.flush()
    time.sleep(float(args.get("sleep", 0)))
    return int(args.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
