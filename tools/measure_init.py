#!/usr/bin/env python3
"""Measures each function's cold start under cargo-lambda's Lambda emulator
(`cargo lambda watch --only-lambda-apis`): the release binary is started with the
configuration it gets in AWS while an invocation waits for it; the time until that
first answer, less the time of a second (warm) invocation, is the init. Prints a table
with binary sizes. Run after `cargo build --release --workspace --bins`; cargo-lambda comes from
PATH or from .local/venv (scripts/setup installs it there)."""
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def fixture(name, change=None):
    with open(os.path.join(FIXTURES, name)) as f:
        event = json.load(f)
    if change:
        change(event)
    return json.dumps(event).encode()


def forgot_password(event):
    # A trigger the function answers without reaching DynamoDB.
    event["triggerSource"] = "PostConfirmation_ConfirmForgotPassword"


# Each function with an event it answers without reaching AWS, so that the warm
# invocation measures the emulator and the handler, not DynamoDB.
FUNCTIONS = [
    ("import-worker", fixture("s3-object-created.json")),  # a key outside uploads/, commits/, drop/: ignored
    ("import-api", fixture("apigw-v2-request-jwt.json")),  # no organisation claim: answered 401/403
    ("on-signup", fixture("cognito-post-confirmation.json", forgot_password)),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"cargo lambda watch did not listen on {port}")


def invoke(port, body, result):
    start = time.perf_counter()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        result.append((time.perf_counter(), r.status, start))


def measure(port, binary, event, runs=5):
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{port}/.rt", AWS_LAMBDA_FUNCTION_NAME="_",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_STREAM_NAME="s",
               AWS_LAMBDA_LOG_GROUP_NAME="g", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y",
               TABLE_NAME="t", BUCKET_NAME="b", RUST_LOG="error")
    inits, warms = [], []
    for _ in range(runs):
        first = []
        waiting = threading.Thread(target=invoke, args=(port, event, first))
        waiting.start()
        time.sleep(0.3)  # the invocation is queued in the emulator before the function starts
        started = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waiting.join(30)
        if not first:
            proc.kill()
            sys.exit(f"{binary} never answered its first invocation")
        warm = []
        invoke(port, event, warm)
        proc.kill()
        proc.wait()
        warm_ms = (warm[0][0] - warm[0][2]) * 1000
        inits.append((first[0][0] - started) * 1000 - warm_ms)
        warms.append(warm_ms)
    return statistics.median(inits), statistics.median(warms)


def main():
    port = free_port()
    # cargo-lambda as scripts/setup installs it, unless one is on PATH already.
    env = dict(os.environ, PATH=os.pathsep.join([os.environ.get("PATH", ""), os.path.join(ROOT, ".local", "venv", "bin")]))
    watch = subprocess.Popen(["cargo", "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        print("| function | release binary (x86_64, stripped) | cold-start init under cargo-lambda (median of 5) | warm invocation |")
        print("| --- | ---: | ---: | ---: |")
        for name, event in FUNCTIONS:
            path = os.path.join(TARGET, "release", name)
            size = os.path.getsize(path) / 1_048_576
            init, warm = measure(port, path, event)
            print(f"| {name} | {size:.1f} MiB | {init:.1f} ms | {warm:.1f} ms |")
    finally:
        watch.terminate()
        watch.wait()


if __name__ == "__main__":
    main()
