// Recording rules: the per-secret work every per-secret alert shares, done once per evaluation in
// the group secrets-rotation.rules instead of once per alert. With tens of thousands of secrets
// the alerts used to read every secret's _info series (and, for their check, its verdicts) over
// 15 minutes each; now this group reads them once and the alerts read what it records, which is
// one series per secret for the owner labels and one per *failing* verdict.
//
// Names follow Prometheus' level:metric:operations; the level `secret` is one series per
// (account_id, region, secret_name), `secret_check` one per secret and check.
//
// - secret:aws_secretsmanager_secret_info:last15m
//     The labels the alerts copy with group_left (the owners' tag_team and tag_environment, the
//     key and rotation function the descriptions name), one series per secret. max by drops job,
//     instance and the labels no alert uses, which collapses the copies several exporter replicas
//     serve; topk by (..., 1) keeps one when the attributes changed within the window (a new
//     key), so a join never meets two series for one secret. last_over_time bridges a restart or
//     a missed scrape of up to 15 minutes. To route on another tag, add it here too.
//
// - secret_check:aws_secretsmanager_secret_compliant:failing_last15m
//     The failing verdicts as the alerts used to read them: the lowest verdict of the replicas,
//     each the newest sample within 15 minutes, kept only where it is 0. Only failing verdicts are
//     recorded, so with `metrics.verdicts: all` (every applicable verdict served, 1 when
//     compliant) this does not double the exporter's series.
//
// - secret_check:aws_secretsmanager_secret_compliant:failing
//     What the alerts read: the verdicts above, less those that recovered *now*. Holding a
//     verdict for 15 minutes is right while the exporter is not being heard (a restart, a failed
//     scrape, a check it has not judged yet) but wrong once it says the secret recovered. With
//     `metrics.verdicts: failing` a recovery removes the verdict's series instead of turning it
//     to 1, so the last 0 would stay within the window for 15 more minutes. A verdict has
//     recovered when, at this evaluation, the secret is listed (its _info series is there), its
//     target's aws_secretsmanager_noncompliant_secrets for the check is there (the exporter
//     serves it only when it judged the check for every secret of the target, so the count is
//     known) and no replica serves the verdict. During a scrape gap or right after a restart the
//     _info series or the count is missing too, so nothing "recovers" and the alert keeps
//     firing; rotation_failed, unknown until the CloudTrail history is read, has no count until
//     then. With `metrics.verdicts: all` a recovery turns the verdict to 1, which already left the
//     first record; a check that stops applying (its series gone, the count there) resolves at
//     once in both modes.
//
// Prometheus evaluates rule groups independently, so an alert may read these records one
// evaluation interval late; promtool's tests order the groups with group_eval_order.
local selector = import '../lib/selector.libsonnet';

// The labels of aws_secretsmanager_secret_info that the alerts copy with group_left.
local infoLabels = ['tag_team', 'tag_environment', 'kms_key', 'rotation_lambda_arn'];

local rules = [
  {
    record: 'secret:aws_secretsmanager_secret_info:last15m',
    expr: |||
      topk by (account_id, region, secret_name) (
        1,
        max by (account_id, region, secret_name, %s) (
          last_over_time(aws_secretsmanager_secret_info{SELECTOR}[15m])
        )
      )
    ||| % std.join(', ', infoLabels),
  },
  {
    record: 'secret_check:aws_secretsmanager_secret_compliant:failing_last15m',
    expr: |||
      min by (account_id, region, secret_name, check) (
        last_over_time(aws_secretsmanager_secret_compliant{SELECTOR}[15m])
      ) == 0
    |||,
  },
  {
    record: 'secret_check:aws_secretsmanager_secret_compliant:failing',
    expr: |||
      secret_check:aws_secretsmanager_secret_compliant:failing_last15m
      unless on (account_id, region, secret_name, check)
      (
        (
          secret_check:aws_secretsmanager_secret_compliant:failing_last15m
          and on (account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR}
          and on (account_id, region, check) aws_secretsmanager_noncompliant_secrets{SELECTOR}
        )
        unless on (account_id, region, secret_name, check) aws_secretsmanager_secret_compliant{SELECTOR}
      )
    |||,
  },
];

{
  prometheusRules+:: {
    groups+: [
      {
        name: 'secrets-rotation.rules',
        rules: [
          rule { expr: selector.apply($._config.secretsRotationSelector, rule.expr) }
          for rule in rules
        ],
      },
    ],
  },
}
