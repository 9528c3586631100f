"""overlays/sharded started the way the StatefulSet starts its pods: each account in one replica.

The container's args and env come from the rendered StatefulSet; POD_INDEX takes 0, 1 and 2 as
the downward API gives it from the apps.kubernetes.io/pod-index label, and $(POD_INDEX) in the
args is expanded as the kubelet does. Only what a cluster would provide differently is changed:
the config directory is a temporary one holding the rendered ConfigMap's config with the
simulated accounts in place of the example's, each replica listens on a loopback port of its
own instead of the pod's 0.0.0.0:9897, and AWS is the simulator.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from conftest import KUBERNETES, container, kustomize, only
from exporter import config_for_simulator, expand, get, log_file, series, simulated_fleet, wait_for
from harness import binary, free_port, running_simulator

ACCOUNTS = [f"{300000000000 + n:012d}" for n in range(30)]
SECRETS_PER_ACCOUNT = 2
CONFIG_DIR = "/etc/secrets-rotation-exporter"


def pod_environment(statefulset: dict, index: int) -> dict[str, str]:
    env = {}
    for entry in container(statefulset).get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            field = entry["valueFrom"]["fieldRef"]["fieldPath"]
            assert field == "metadata.labels['apps.kubernetes.io/pod-index']", field
            env[entry["name"]] = str(index)
    return env


def test_each_account_is_polled_by_exactly_one_replica() -> None:
    objects = kustomize(KUBERNETES / "overlays" / "sharded")
    statefulset = only(objects, "StatefulSet")
    replicas = statefulset["spec"]["replicas"]
    volume = statefulset["spec"]["template"]["spec"]["volumes"][0]
    config_map = only(objects, "ConfigMap", volume["configMap"]["name"])

    with tempfile.TemporaryDirectory() as scratch:
        fleet = Path(scratch) / "fleet.yaml"
        fleet.write_text(simulated_fleet(ACCOUNTS, SECRETS_PER_ACCOUNT))
        config_dir = Path(scratch) / "config"
        config_dir.mkdir()
        (config_dir / "config.yaml").write_text(config_for_simulator(config_map["data"]["config.yaml"], ACCOUNTS))

        processes = []
        with running_simulator(fleet) as aws:
            try:
                for index in range(replicas):
                    env = pod_environment(statefulset, index)
                    port = free_port()
                    args = []
                    for argument in container(statefulset)["args"]:
                        argument = expand(argument, env).replace(CONFIG_DIR, str(config_dir))
                        if argument.startswith("--web.listen-address="):
                            argument = f"--web.listen-address=127.0.0.1:{port}"
                        args.append(argument)
                    env.update(
                        AWS_ENDPOINT_URL=aws.url,
                        AWS_ACCESS_KEY_ID=aws.access_key_id,
                        AWS_SECRET_ACCESS_KEY=aws.secret_access_key,
                        AWS_EC2_METADATA_DISABLED="true",
                        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
                    )
                    log = log_file()
                    process = subprocess.Popen(
                        [str(binary("secrets-rotation-exporter")), *args],
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log.open("w"),
                        stderr=subprocess.STDOUT,
                    )
                    processes.append((index, args, port, process, log))

                owner: dict[str, list[int]] = {}
                for index, args, port, process, log in processes:
                    assert f"--shard={index}/{replicas}" in args, args
                    wait_for(f"http://127.0.0.1:{port}/readyz", process, log)
                    status, body = get(f"http://127.0.0.1:{port}/metrics")
                    assert status == 200
                    up = series(body, "secrets_rotation_exporter_target_up")
                    polled = {s["account_id"] for s in up if s.get("source") == "secretsmanager"}
                    secrets = series(body, "aws_secretsmanager_secret_info")
                    # Every account a replica polls is up, with exactly its secrets.
                    assert [s for s in up if s["__value__"] != "1"] == []
                    for account in polled:
                        names = sorted(s["secret_name"] for s in secrets if s["account_id"] == account)
                        assert names == [f"app-{n}/db-password" for n in range(SECRETS_PER_ACCOUNT)], account
                    assert {s["account_id"] for s in secrets} == polled
                    for account in polled:
                        owner.setdefault(account, []).append(index)
                    print(f"replica {index}/{replicas}: {len(polled)} accounts, {len(secrets)} secrets")
            finally:
                for _, _, _, process, log in processes:
                    process.terminate()
                    process.wait(timeout=20)
                    log.unlink(missing_ok=True)

    assert sorted(owner) == sorted(ACCOUNTS), "some account is polled by no replica"
    assert {account: replicas_of for account, replicas_of in owner.items() if len(replicas_of) != 1} == {}
    assert all(index in {i for (i,) in owner.values()} for index in range(replicas)), "a replica has no account"
