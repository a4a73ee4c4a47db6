"""`python -m localaws`: serve the local AWS stack (the emulator alone) on loopback until interrupted.

The developer's launcher with MLflow, provisioning and Airflow is `python -m devstack`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from localaws.interrupt import Stopped, ignore_signals, raise_on_signals, wait_while
from localaws.server import LocalAwsStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localaws", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback by default)")
    parser.add_argument("--port", type=int, default=4566, help="AWS endpoint port (0 picks a free one)")
    parser.add_argument("--access-log", action="store_true", help="log every request (werkzeug access log)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP (bucket policies then deny S3 calls)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    raise_on_signals()  # before anything starts: a signal during start-up stops it too
    stack = None
    try:
        stack = LocalAwsStack(args.host, args.port, tls=not args.no_tls)
        stack.start()
        print(f"local AWS stack on {stack.url}" + (f" (CA: {stack.ca_bundle})" if stack.ca_bundle else ""), flush=True)
        wait_while()
    except Stopped:
        pass
    finally:
        ignore_signals()
        if stack is not None:
            stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
