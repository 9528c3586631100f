"""What the container image relies on, checked without a container engine.

No image can be built here (there is no engine that can pull the base images), so these tests
check what the Dockerfile promises: that the exporter serves

- as uid/gid 65532 with no supplementary groups, no capabilities and no_new_privs set,
- from a root file system that is read-only and holds only what distroless/cc provides (the
  binary, the shared libraries it links, /etc/passwd, CA certificates) plus the mounted config,
- with cwd `/`, no HOME and an environment of only the AWS settings the test gives it.

The root is a tmpfs built in a private mount namespace, remounted read-only, with /proc and
/dev/null, /dev/urandom bind-mounted as a container runtime would; the exporter is started in it
with `unshare --root --setuid --setgid` under `setpriv --no-new-privs`. It runs the debug build
the suite already has: the image's release build is the same code with optimisations. Needs root
(test-all.sh and CI run as root).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import KUBERNETES, REPO_ROOT, container, kustomize, only, required_tool
from exporter import get, log_file, wait_for
from harness import binary, free_port, running_simulator

NONROOT = 65532
# The shared objects of gcr.io/distroless/cc-debian12: glibc's and libgcc_s (libstdc++ and
# libgomp are there too, and libssl3 in the distroless base; the exporter needs neither).
DISTROLESS_CC_LIBRARIES = {
    "linux-vdso.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6",
    "libdl.so.2", "libpthread.so.0", "librt.so.1", "libgcc_s.so.1", "libstdc++.so.6", "libgomp.so.1",
    "libssl.so.3", "libcrypto.so.3",
}
FLEET = {
    "regions": ["us-east-1"],
    "accounts": [{"id": "111111111111"}],
    "secrets": [
        {"account": "111111111111", "name": "prod/db", "tags": {"team": "payments"}},
        {"name": "base/api-key", "tags": {"team": "platform"}},
    ],
}

ROOT_SCRIPT = r"""
set -eu
root=$1 binary=$2 config=$3 ; shift 3
mount -t tmpfs -o mode=0755 tmpfs "$root"
mkdir -p "$root/etc/secrets-rotation-exporter" "$root/etc/ssl/certs" "$root/proc" "$root/dev" "$root/tmp"
install -m 0755 "$binary" "$root/secrets-rotation-exporter"
for library in $(ldd "$binary" | grep -o '/[^ ]*'); do
    cp --parents -L "$library" "$root/"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"; fi
# A ConfigMap volume: root-owned files, readable by all, in a read-only mount.
install -m 0444 "$config" "$root/etc/secrets-rotation-exporter/config.yaml"
for device in null urandom; do
    touch "$root/dev/$device"
    mount --bind "/dev/$device" "$root/dev/$device"
done
mount -t proc proc "$root/proc"
mount -o remount,ro "$root"
exec "$@"
"""


def test_the_binary_needs_only_what_distroless_cc_has() -> None:
    ldd = subprocess.run(["ldd", str(binary("secrets-rotation-exporter"))], capture_output=True, text=True, check=True)
    linked = {Path(line.split()[0]).name for line in ldd.stdout.splitlines() if line.strip()}
    assert linked <= DISTROLESS_CC_LIBRARIES, linked - DISTROLESS_CC_LIBRARIES


def status_fields(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def test_serves_unprivileged_from_a_read_only_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("this test builds a read-only root in a mount namespace and needs root")
    for tool in ("unshare", "setpriv", "ldd"):
        required_tool(tool)
    deployment = only(kustomize(KUBERNETES / "base"), "Deployment")
    args = container(deployment)["args"]
    port = free_port()
    args = [f"--web.listen-address=127.0.0.1:{port}" if a.startswith("--web.listen-address=") else a for a in args]
    assert "--config.file=/etc/secrets-rotation-exporter/config.yaml" in args

    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        fleet = scratch_path / "fleet.yaml"
        fleet.write_text(yaml.safe_dump(FLEET))
        config = scratch_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "poll_interval": "5m",
                    "regions": ["us-east-1"],
                    "accounts": [
                        {"id": "111111111111", "role_arn": "arn:aws:iam::111111111111:role/secrets-rotation-reader"},
                        {"id": "123456789012"},
                    ],
                }
            )
        )
        root = scratch_path / "root"
        root.mkdir()
        with running_simulator(fleet) as aws:
            environment = {
                "AWS_ENDPOINT_URL": aws.url,
                "AWS_ACCESS_KEY_ID": aws.access_key_id,
                "AWS_SECRET_ACCESS_KEY": aws.secret_access_key,
                "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
            }
            command = [
                required_tool("unshare"), "--mount", "--propagation", "private",
                "sh", "-c", ROOT_SCRIPT, "sh", str(root), str(binary("secrets-rotation-exporter")), str(config),
                "env", "-i", *(f"{k}={v}" for k, v in environment.items()),
                required_tool("setpriv"), "--no-new-privs",
                required_tool("unshare"), f"--root={root}", "--wd=/", f"--setgid={NONROOT}", f"--setuid={NONROOT}",
                "/secrets-rotation-exporter", *args,
            ]
            log = log_file()
            # Every step execs the next, so this pid ends up being the exporter's.
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT)
            try:
                wait_for(f"http://127.0.0.1:{port}/readyz", process, log)
                for path in ("/metrics", "/healthz"):
                    status, body = get(f"http://127.0.0.1:{port}{path}")
                    assert status == 200, (path, body)
                status, body = get(f"http://127.0.0.1:{port}/metrics")
                assert 'secret_name="prod/db"' in body and 'secret_name="base/api-key"' in body
                assert 'secrets_rotation_exporter_target_up{account_id="111111111111"' in body

                pid = process.pid
                assert os.readlink(f"/proc/{pid}/exe").endswith("/secrets-rotation-exporter")
                fields = status_fields(pid)
                assert fields["Uid"].split() == [str(NONROOT)] * 4
                assert fields["Gid"].split() == [str(NONROOT)] * 4
                assert fields["Groups"] == ""
                assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
                assert fields["NoNewPrivs"] == "1"
                # Seen from outside, its root and its cwd are both the directory built above:
                # inside, that is `/`.
                assert os.readlink(f"/proc/{pid}/root") == str(root)
                assert os.readlink(f"/proc/{pid}/cwd") == str(root)
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert sorted(e.decode().split("=", 1)[0] for e in environ if e) == sorted(environment)
                # /proc/PID/mounts lists its namespace's mounts as it sees them: `/` is the tmpfs,
                # read-only.
                mounts = [line.split() for line in Path(f"/proc/{pid}/mounts").read_text().splitlines()]
                own_root = [m for m in mounts if m[1] == "/"]
                assert own_root and own_root[-1][2] == "tmpfs", own_root
                assert "ro" in own_root[-1][3].split(","), own_root
                assert process.poll() is None, log.read_text()
            finally:
                process.terminate()
                process.wait(timeout=20)
        output = log.read_text(errors="replace")
        log.unlink(missing_ok=True)
    assert "Read-only file system" not in output and "Permission denied" not in output, output


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for the patterns this file uses: a pattern matches a path or a parent of it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "exceptions are not handled here"
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_the_build_context_has_what_cargo_needs() -> None:
    """The tracked files .dockerignore lets through still make a workspace cargo resolves --locked."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    patterns = dockerignore_patterns()
    kept = [f for f in files if f and not ignored(f, patterns)]
    assert "Cargo.lock" in kept and "src/main.rs" in kept
    assert not [f for f in kept if f.startswith(("target/", ".git/", "fuzz/", ".venv/"))]
    with tempfile.TemporaryDirectory() as scratch:
        for name in kept:
            destination = Path(scratch) / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, destination)
        resolved = subprocess.run(
            [required_tool("cargo"), "metadata", "--locked", "--offline", "--format-version", "1"],
            cwd=scratch,
            capture_output=True,
            text=True,
            env={**os.environ, "CARGO_TARGET_DIR": str(Path(scratch) / "target")},
        )
    assert resolved.returncode == 0, resolved.stderr


def test_the_dockerfile_agrees_with_the_manifests() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    stages = [line.split()[1] for line in instructions if line.startswith("FROM ")]
    assert re.fullmatch(r"docker\.io/library/rust:1-bookworm", stages[0]), stages
    assert stages[-1] == "gcr.io/distroless/cc-debian12:nonroot", stages
    assert "cargo build --release --locked --bin secrets-rotation-exporter" in dockerfile
    assert f"USER {NONROOT}:{NONROOT}" in instructions
    assert "EXPOSE 9897" in instructions
    assert 'ENTRYPOINT ["/secrets-rotation-exporter"]' in instructions
    cmd = next(line for line in instructions if line.startswith("CMD "))
    deployment = only(kustomize(KUBERNETES / "base"), "Deployment")
    # The Deployment passes the image's default command explicitly.
    assert yaml.safe_load(cmd.removeprefix("CMD ")) == container(deployment)["args"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == NONROOT
