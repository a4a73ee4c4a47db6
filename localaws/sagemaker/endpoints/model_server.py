"""The serving half of a SageMaker script-mode framework container, as a local process.

The endpoint backend starts one per production-variant instance. As SageMaker's inference toolkit
does, it imports the model's handler module (`SAGEMAKER_PROGRAM` from `SAGEMAKER_SUBMIT_DIRECTORY`,
by default `<model dir>/code`), calls `model_fn(model_dir)` once, then answers `GET /ping` and
`POST /invocations` with `input_fn` -> `predict_fn` -> `output_fn`. A handler exception is a 500
with its message, which InvokeEndpoint reports as a ModelError; a startup failure exits non-zero.

Stdlib only and run as a script: the model's own code must bring everything else it needs.
`LOCALAWS_FAULT_ERROR_RATE` / `LOCALAWS_FAULT_LATENCY_MS` (set by the stack's fault injector) make
a variant misbehave so guardrails can be tested.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def load_handlers(model_dir: Path, code_dir: Path):
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    path = code_dir / program
    if not path.is_file():
        raise FileNotFoundError(f"SAGEMAKER_PROGRAM {program!r} not found in {code_dir}")
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "model_fn"):
        raise AttributeError(f"{program} defines no model_fn")
    return module


class Handler(BaseHTTPRequestHandler):
    module = None
    model = None
    error_rate = 0.0
    latency_s = 0.0

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ping":
            self._send(200, b"")
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self):
        if self.path != "/invocations":
            self._send(404, b'{"error": "not found"}')
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.latency_s:
            time.sleep(self.latency_s)
        if self.error_rate and random.random() < self.error_rate:
            print("injected fault: returning 500", flush=True)
            self._send(500, b'{"error": "injected fault (localaws)"}')
            return
        module = self.module
        try:
            data = module.input_fn(body, self.headers.get("Content-Type", "application/json"))
            prediction = module.predict_fn(data, self.model)
            response, content_type = module.output_fn(prediction, self.headers.get("Accept", "application/json"))
        except Exception as err:  # the toolkit's rule: any handler error is the model's 500
            traceback.print_exc()
            status = 400 if type(err).__name__ == "BadRequest" else 500
            self._send(status, json.dumps({"error": str(err)}).encode())
            return
        self._send(200, response.encode() if isinstance(response, str) else response, content_type)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--code-dir")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    started = time.perf_counter()
    Handler.module = load_handlers(model_dir, Path(args.code_dir) if args.code_dir else model_dir / "code")
    Handler.model = Handler.module.model_fn(str(model_dir))
    Handler.error_rate = float(os.environ.get("LOCALAWS_FAULT_ERROR_RATE", "0") or 0)
    Handler.latency_s = float(os.environ.get("LOCALAWS_FAULT_LATENCY_MS", "0") or 0) / 1000
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"model loaded in {time.perf_counter() - started:.2f}s; serving on port {args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
