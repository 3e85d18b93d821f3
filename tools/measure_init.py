#!/usr/bin/env python3
"""Measures each function's cold-start init: the time from starting its release binary
to its first request for work on the Lambda runtime API (served here by a stub on
127.0.0.1), with the configuration it gets in AWS. Prints a table with binary sizes.
Run after `cargo build --release --workspace --bins`."""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
FUNCTIONS = ["import-worker", "import-api", "on-signup"]
first_call = threading.Event()


class Runtime(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            first_call.set()
            time.sleep(0.2)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


def measure(binary, runs=5):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}", AWS_LAMBDA_FUNCTION_NAME="f",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_STREAM_NAME="s",
               AWS_LAMBDA_LOG_GROUP_NAME="g", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y",
               TABLE_NAME="t", BUCKET_NAME="b", RUST_LOG="error")
    times = []
    for _ in range(runs):
        first_call.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not first_call.wait(10):
            proc.kill()
            sys.exit(f"{binary} never asked for work")
        times.append((time.perf_counter() - start) * 1000)
        proc.kill()
        proc.wait()
    server.shutdown()
    return statistics.median(times)


print("| function | release binary (x86_64, stripped) | init to first request (median of 5) |")
print("| --- | ---: | ---: |")
for f in FUNCTIONS:
    path = os.path.join(TARGET, "release", f)
    size = os.path.getsize(path) / 1_048_576
    print(f"| {f} | {size:.1f} MiB | {measure(path):.1f} ms |")
