// The alerts, in five groups: rotation.libsonnet (is each secret rotated as its policy says),
// hygiene.libsonnet (how each secret is kept), parameters.libsonnet (the SSM parameters of
// sources.ssm_parameters), accounts.libsonnet (RDS master passwords and the VPCs' Secrets Manager
// endpoints) and exporter.libsonnet (can the exporter be trusted). docs/alerting.md explains the label requirements and the owner routing. In short:
//
// - Per-secret alerts fire on the exporter's own verdict, aws_secretsmanager_secret_compliant,
//   so every threshold (max_age, max_rotation_interval, overdue_grace, pending_timeout,
//   unused_after, overrides, exemptions) lives in the exporter's config, never in these rules.
// - Per-secret alerts read the recording rules (../rules/rules.libsonnet): the failing verdicts,
//   held through last_over_time(...[15m]) so that an exporter restart or a missed scrape neither
//   resolves a firing alert (which would page again when the series returns) nor restarts a
//   pending `for`, and dropped at the next evaluation once the exporter says the secret recovered
//   (a verdict turned 1, or with metrics.verdicts: failing a verdict series gone while the secret
//   is listed and its target's count is known). The value series an alert shows are read through
//   last_over_time(...[15m]) here, for the same reason.
// - The records collapse the copies that two exporter replicas (or an old and a new pod) scrape,
//   so one secret gives one alert, and the join with the owner labels never fails on duplicates.
// - tag_team and tag_environment come from aws_secretsmanager_secret_info, which carries them when
//   the exporter is configured with `labels: { tags: [environment, team] }`.
// - No alert reads a counter without rate(), so a counter reset on restart never fires anything.
//
// Each group file is a function of the config that returns the group with its rules' alert, expr,
// for, summary and description; this file adds what the config decides (the selector, the
// severity, the runbook URL) and leaves out disabled alerts.
local selector = import '../lib/selector.libsonnet';

local groupFiles = [
  import 'rotation.libsonnet',
  import 'hygiene.libsonnet',
  import 'parameters.libsonnet',
  import 'accounts.libsonnet',
  import 'exporter.libsonnet',
];

local finish(config, rule) = rule {
  expr: selector.apply(config.secretsRotationSelector, rule.expr),
  labels+: { severity: config.secretsRotationSeverities[rule.alert] },
  annotations+: {
    runbook_url: config.secretsRotationRunbookURLPattern % std.asciiLower(rule.alert),
  },
};

local groups(config) =
  local all = [group(config) for group in groupFiles];
  local names = std.set([rule.alert for group in all for rule in group.rules]);
  local severities = std.objectFields(config.secretsRotationSeverities);
  local unknown(list) = [name for name in list if !std.setMember(name, names)];
  assert unknown(config.secretsRotationDisabledAlerts) == [] :
         'secretsRotationDisabledAlerts names no alert of this mixin: %s' % [unknown(config.secretsRotationDisabledAlerts)];
  assert unknown(severities) == [] :
         'secretsRotationSeverities names no alert of this mixin: %s' % [unknown(severities)];
  local unrated = [name for name in names if !std.member(severities, name)];
  assert unrated == [] : 'secretsRotationSeverities has no severity for %s' % [unrated];
  local enabled(group) = group {
    rules: [
      finish(config, rule)
      for rule in group.rules
      if !std.member(config.secretsRotationDisabledAlerts, rule.alert)
    ],
  };
  // A group whose alerts are all disabled is left out rather than kept empty.
  [g for g in std.map(enabled, all) if g.rules != []];

{
  prometheusAlerts+:: {
    groups+: groups($._config),
  },
}
