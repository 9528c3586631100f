"""Processes the parity test runs: moto_server, the aws-simulator and the exporter's `check`."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET_FILE = REPO_ROOT / "tests" / "fixtures" / "parity-fleet.yaml"
STARTUP_TIMEOUT_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 180.0


def binary_dir() -> Path:
    """Where cargo put the debug binaries; scripts/test-all.sh exports it."""
    explicit = os.environ.get("SECRETS_ROTATION_BIN_DIR")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO_ROOT / "target") / "debug"


def binary(name: str) -> Path:
    path = binary_dir() / name
    if not path.is_file():
        pytest.fail(
            f"{path} does not exist: run `cargo build --workspace` first (or set SECRETS_ROTATION_BIN_DIR)"
        )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class AwsEndpoint:
    url: str
    access_key_id: str
    secret_access_key: str


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_moto_server() -> Iterator[AwsEndpoint]:
    # The venv's moto_server sits next to the interpreter running pytest.
    moto_server = Path(sys.executable).parent / "moto_server"
    if not moto_server.is_file():
        found = shutil.which("moto_server")
        if not found:
            pytest.fail(
                "moto_server not found: install tests/moto/requirements.txt (scripts/test-all.sh does)"
            )
        moto_server = Path(found)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(
                    f"moto_server exited with {process.returncode}:\n{log.read().decode(errors='replace')}"
                )
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not answer on {url} within {STARTUP_TIMEOUT_SECONDS:.0f}s")
                time.sleep(0.2)
        # RotateSecret invokes the rotation Lambda; moto's Docker-free Lambda
        # answers the invocation without running it (there is no Docker here).
        configure = urllib.request.Request(
            f"{url}/moto-api/config",
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(configure, timeout=10) as answer:
            settings = json.load(answer)
        if settings.get("lambda", {}).get("use_docker") is not False:
            pytest.fail(f"moto kept Docker-backed Lambda: {settings}")
        yield AwsEndpoint(url=url, access_key_id="testing", secret_access_key="testing")
    finally:
        _stop(process)
        log.close()


@contextmanager
def running_simulator(fleet_file: Path) -> Iterator[AwsEndpoint]:
    stderr_log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(binary("aws-simulator")), "--fleet", str(fleet_file), "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_log,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    # Keeps reading so a chatty simulator never blocks on a full pipe.
    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url = access_key = secret_key = None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while url is None or access_key is None or secret_key is None:
            remaining = deadline - time.monotonic()
            line = None
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                pass
            if line is None:
                process.poll()
                stderr_log.seek(0)
                pytest.fail(
                    "aws-simulator did not print its endpoint and credentials "
                    f"(exit code {process.returncode}):\n{stderr_log.read().decode(errors='replace')}"
                )
            if line.startswith("listening on "):
                url = line.removeprefix("listening on ").strip()
            elif line.startswith("AWS_ACCESS_KEY_ID="):
                access_key = line.split("=", 1)[1].strip()
            elif line.startswith("AWS_SECRET_ACCESS_KEY="):
                secret_key = line.split("=", 1)[1].strip()
        yield AwsEndpoint(url=url, access_key_id=access_key, secret_access_key=secret_key)
    finally:
        _stop(process)
        stderr_log.close()


def run_check(
    endpoint: AwsEndpoint, config_file: Path, *, unevaluated_expected: bool = False
) -> dict[str, Any]:
    """`secrets-rotation-exporter check --output=json` against one endpoint; the parsed report.

    `unevaluated_expected`: a check left unknown on purpose makes `check` exit 2;
    that is then accepted, but only when every target is up and the report
    names secrets it could not evaluate.
    """
    # Only what the test sets: no profile, region or endpoint from the machine.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    with tempfile.TemporaryDirectory() as empty_home:
        environment.update(
            {
                "AWS_ENDPOINT_URL": endpoint.url,
                "AWS_ACCESS_KEY_ID": endpoint.access_key_id,
                "AWS_SECRET_ACCESS_KEY": endpoint.secret_access_key,
                "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(Path(empty_home) / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(Path(empty_home) / "credentials"),
            }
        )
        command = [
            str(binary("secrets-rotation-exporter")),
            "check",
            f"--config.file={config_file}",
            "--output=json",
        ]
        try:
            finished = subprocess.run(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`check` against {endpoint.url} did not finish within {CHECK_TIMEOUT_SECONDS:.0f}s")
    # 0: all compliant, 1: some non-compliant; 2 means it could not evaluate.
    if finished.returncode not in (0, 1, 2) or (finished.returncode == 2 and not unevaluated_expected):
        pytest.fail(f"`check` against {endpoint.url} exited {finished.returncode}:\n{finished.stderr}")
    try:
        report = json.loads(finished.stdout)
    except json.JSONDecodeError as error:
        pytest.fail(
            f"`check` against {endpoint.url} printed no JSON ({error}):\n"
            f"{finished.stdout[:2000]}\n{finished.stderr}"
        )
    if finished.returncode == 2:
        summary = report.get("summary", {})
        if summary.get("targets_down") != 0 or not summary.get("unevaluated_secrets"):
            pytest.fail(
                f"`check` against {endpoint.url} exited 2 with {summary}, "
                f"not for unevaluated secrets alone:\n{finished.stderr}"
            )
    return report


# Headers that belong to one hop, not to the request or answer being passed on.
HOP_HEADERS = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class RecordingProxy:
    """An endpoint in front of another that passes every request on and counts its operation."""

    endpoint: AwsEndpoint
    # By `X-Amz-Target` (JSON protocols: `AmazonSSM.DescribeParameters`), else method and path.
    operations: Counter[str]


@contextmanager
def recording_proxy(upstream: AwsEndpoint) -> Iterator[RecordingProxy]:
    """Counts what a client asks of `upstream`, for requests a server cannot be asked about.

    The aws-simulator counts requests only inside its process (the Rust tests read those
    counters; the binary neither serves nor prints them), and moto counts none, so a test
    that must know which operations the exporter sent puts this in between. Signatures pass
    through untouched: neither server checks them against the Host header.
    """
    target = urllib.parse.urlsplit(upstream.url)
    operations: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            operation = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
            with lock:
                operations[operation] += 1
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                payload = answer.read()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            finally:
                connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield RecordingProxy(
            endpoint=AwsEndpoint(
                url=f"http://127.0.0.1:{port}",
                access_key_id=upstream.access_key_id,
                secret_access_key=upstream.secret_access_key,
            ),
            operations=operations,
        )
    finally:
        server.shutdown()
        server.server_close()
