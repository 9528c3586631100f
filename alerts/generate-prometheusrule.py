#!/usr/bin/env python3
"""Writes alerts/prometheusrule.yaml from alerts/secrets-rotation.rules.yml.

The PrometheusRule's spec is the rules file's `groups:` block indented under `spec:`, text for
text, so the two never differ in content and the comments carry over. tests/alert_rules.rs fails
when the checked-in file is not what this script writes.

    alerts/generate-prometheusrule.py          rewrite alerts/prometheusrule.yaml
    alerts/generate-prometheusrule.py --check  exit 1 if it is out of date
"""

import pathlib
import sys

ALERTS = pathlib.Path(__file__).resolve().parent
RULES = ALERTS / "secrets-rotation.rules.yml"
OUTPUT = ALERTS / "prometheusrule.yaml"

HEADER = """\
# Generated from secrets-rotation.rules.yml by generate-prometheusrule.py: edit the rules file,
# then run alerts/generate-prometheusrule.py. Add the labels your Prometheus resource's
# ruleSelector asks for (kube-prometheus-stack, for example, selects `release: <its release>`).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: secrets-rotation-exporter
  labels:
    app.kubernetes.io/name: secrets-rotation-exporter
    app.kubernetes.io/component: alerting-rules
spec:
"""


def render(rules_text: str) -> str:
    lines = rules_text.splitlines()
    try:
        start = lines.index("groups:")
    except ValueError:
        sys.exit(f"{RULES}: no top-level 'groups:' line")
    body = ["  " + line if line else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


def main() -> int:
    wanted = render(RULES.read_text(encoding="utf-8"))
    if sys.argv[1:] == ["--check"]:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != wanted:
            print(f"{OUTPUT} is out of date: run {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
