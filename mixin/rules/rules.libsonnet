// Recording rules: the per-secret work every per-secret alert shares, done once per evaluation in
// the group secrets-rotation.rules instead of once per alert. With tens of thousands of secrets
// each alert used to read every secret's _info series and its check's verdicts over 15 minutes;
// now this group reads the verdicts, the _info series and the next rotation dates once, and the
// alerts read what it records: one series per failing verdict, and the owner labels and dates of
// the secrets that have one.
//
// Reading a family means reading every secret's series of it whatever the expression keeps, so
// the cost of a round is the number of per-secret families read, times the secrets. Each rule
// below filters before it aggregates (`== 0`, `and on`): an aggregation hashes every series it is
// given, a filter only the few it keeps.
//
// Names follow Prometheus' level:metric:operations; the level `secret` is one series per
// (account_id, region, secret_name), `secret_check` one per secret and check.
//
// - secret_check:aws_secretsmanager_secret_compliant:failing_now
//     The verdicts failing now: kept only where 0, then the lowest of the replicas (min by
//     collapses the copies several exporters serve). The one read of every verdict per
//     evaluation; at 20,000 secrets with `metrics.verdicts: all` that is some 220,000 series.
//
// - secret_check:aws_secretsmanager_secret_compliant:failing_last15m
//     The failing verdicts held for 15 minutes, read from the record above: last_over_time
//     bridges an exporter restart or a missed scrape of up to 15 minutes by reading only the
//     recorded failures, never every verdict again.
//
// - secret_check:aws_secretsmanager_secret_compliant:failing
//     What the alerts read: the held verdicts, less those that recovered at this evaluation.
//     Holding a verdict for 15 minutes is right while the exporter is not heard (a restart, a
//     failed scrape, a check not judged yet), wrong once it says the secret recovered. A verdict
//     has recovered when, now, its target's aws_secretsmanager_noncompliant_secrets for the check
//     is there (the exporter serves the count only when it judged the check for every secret of
//     the target) and the verdict is not failing now (with `metrics.verdicts: all` it is 1, with
//     `failing` its series ended). During a scrape gap or right after a restart the count is
//     missing too, so nothing "recovers": rotation_failed, unknown until the CloudTrail history
//     is read, has no count until then. A check that stops applying (its series gone, the count
//     there) resolves at once, and so does a secret that is no longer listed (deleted): the
//     exporter judged every secret it lists and this one is not among them. Where another
//     secret of the target has the check unknown (no count), a recovery waits out the 15
//     minutes: telling it apart would take reading every verdict again.
//
// - secret:aws_secretsmanager_secret_info:failing_last15m
//     The labels the alerts copy with group_left (the owners' tag_team and tag_environment, the
//     key and rotation function the descriptions name), one series per secret that has a failing
//     verdict, so that each alert's join is as small as the failures. max by drops job, instance
//     and the labels no alert uses, which collapses the replicas' copies; topk by (..., 1) keeps
//     one series when the attributes changed within the window (a new key), so a join never meets
//     two series for one secret. To route on another tag, add it to infoLabels below and to the
//     alerts' group_left lists.
//
// - secret:aws_secretsmanager_secret_next_rotation_timestamp_seconds:rotation_overdue
//     The next rotation date of each secret failing rotation_overdue, held for 15 minutes like
//     the verdicts: the two overdue alerts compute how late the rotation is from it, and the
//     family is read once a round instead of once per alert.
//
// SSM parameters (sources.ssm_parameters) get the same four records, at the levels `parameter`
// (account_id, region, parameter_name) and `parameter_check`, for the alerts of
// ../alerts/parameters.libsonnet. They filter before they aggregate: `== 0` and `and on` the
// failing verdicts come inside min by and max by, so an aggregation hashes only the failures,
// not every parameter's series.
//
// - parameter_check:aws_ssm_parameter_compliant:failing_now
// - parameter_check:aws_ssm_parameter_compliant:failing_last15m
//     As for secrets: the failing verdicts now (the one read of every verdict), and the same held
//     for 15 minutes from the record.
//
// - parameter_check:aws_ssm_parameter_compliant:failing
//     The held verdicts less those that recovered at this evaluation: the target's
//     aws_ssm_noncompliant_parameters for the check is there (served only when no verdict of the
//     check is unknown in the target) and the verdict is not failing now. As for secrets, a
//     parameter that is no longer listed (deleted) resolves at once, and a scrape gap or a
//     restart takes the count away too, so it resolves nothing.
//
// - parameter:aws_ssm_parameter_info:failing_last15m
//     tag_team, tag_environment and kms_key of aws_ssm_parameter_info over 15 minutes, one series
//     per parameter with a failing verdict (topk by (..., 1) as for secrets). The tags are there
//     only with `sources.ssm_parameters.tags: true` and `labels.tags`; without them the alerts
//     fire without owner labels. To route on another tag, add it to parameterInfoLabels below
//     and to the group_left lists of ../alerts/parameters.libsonnet.
//
// RDS databases and VPCs (../alerts/accounts.libsonnet) get the same four records, at the levels
// `database` (account_id, region, db_identifier) and `database_check`, `vpc` (account_id, region,
// vpc_id) and `vpc_check`, filtered before they are aggregated as above:
//
// - database_check:aws_rds_database_compliant:failing_now
// - database_check:aws_rds_database_compliant:failing_last15m
// - vpc_check:aws_vpc_compliant:failing_now
// - vpc_check:aws_vpc_compliant:failing_last15m
//     The failing verdicts now and held for 15 minutes, as for secrets.
//
// - database_check:aws_rds_database_compliant:failing
// - vpc_check:aws_vpc_compliant:failing
//     The held verdicts less those that recovered at this evaluation. These families have no
//     per-target count, so what tells "recovered" from "not heard" is the target's health: the
//     verdict recovered when, now, secrets_rotation_exporter_target_up of its account, region
//     and source (rds for databases, ec2 for VPCs) is 1 and the verdict is not failing now. A
//     source's target_up is served only once its first poll ended, and is 1 only when that poll
//     read the whole target; it is missing during a scrape gap and after a restart until then,
//     and 0 while polls fail (the exporter then keeps the last verdicts), so none of these
//     resolves anything. A database or VPC that is deleted, a VPC exempted by tag and a database
//     whose check stops applying (its series gone, target_up 1) resolve at once.
//
// - database:aws_rds_database_info:failing_last15m
// - vpc:aws_vpc_info:failing_last15m
//     kind and engine of aws_rds_database_info, and is_default of aws_vpc_info, over 15 minutes,
//     one series per database or VPC with a failing verdict (topk by (..., 1) as for secrets).
//
// Prometheus evaluates rule groups independently, so an alert may read these records one
// evaluation interval late; promtool's tests order the groups with group_eval_order.
local selector = import '../lib/selector.libsonnet';

// The labels of aws_secretsmanager_secret_info that the alerts copy with group_left.
local infoLabels = ['tag_team', 'tag_environment', 'kms_key', 'rotation_lambda_arn'];

// The labels of aws_ssm_parameter_info that the parameter alerts copy with group_left.
local parameterInfoLabels = ['tag_team', 'tag_environment', 'kms_key'];

// The per-resource families of the RDS databases and VPCs, with the labels their alerts copy and
// the target_up source whose health tells a recovery from a gap.
local accountResources = [
  {
    level: 'database',
    name: 'db_identifier',
    verdicts: 'aws_rds_database_compliant',
    info: 'aws_rds_database_info',
    infoLabels: ['kind', 'engine'],
    source: 'rds',
  },
  {
    level: 'vpc',
    name: 'vpc_id',
    verdicts: 'aws_vpc_compliant',
    info: 'aws_vpc_info',
    infoLabels: ['is_default'],
    source: 'ec2',
  },
];

local accountRules(r) =
  local checkLevel = r.level + '_check:' + r.verdicts;
  [
    {
      record: checkLevel + ':failing_now',
      expr: |||
        min by (account_id, region, %(name)s, check) (
          %(verdicts)s{SELECTOR} == 0
        )
      ||| % r,
    },
    {
      record: checkLevel + ':failing_last15m',
      expr: |||
        last_over_time(%s:failing_now[15m])
      ||| % checkLevel,
    },
    {
      record: checkLevel + ':failing',
      expr: |||
        %(check)s:failing_last15m
        unless on (account_id, region, %(name)s, check)
        (
          (
            %(check)s:failing_last15m
            and on (account_id, region)
              (secrets_rotation_exporter_target_up{SELECTOR,source="%(source)s"} == 1)
          )
          unless on (account_id, region, %(name)s, check)
            %(check)s:failing_now
        )
      ||| % (r { check: checkLevel }),
    },
    {
      record: r.level + ':' + r.info + ':failing_last15m',
      expr: |||
        topk by (account_id, region, %(name)s) (
          1,
          max by (account_id, region, %(name)s, %(labels)s) (
            last_over_time(%(info)s{SELECTOR}[15m])
            and on (account_id, region, %(name)s)
              %(check)s:failing
          )
        )
      ||| % (r { check: checkLevel, labels: std.join(', ', r.infoLabels) }),
    },
  ];

local rules = [
  {
    record: 'secret_check:aws_secretsmanager_secret_compliant:failing_now',
    expr: |||
      min by (account_id, region, secret_name, check) (
        aws_secretsmanager_secret_compliant{SELECTOR} == 0
      )
    |||,
  },
  {
    record: 'secret_check:aws_secretsmanager_secret_compliant:failing_last15m',
    expr: |||
      last_over_time(secret_check:aws_secretsmanager_secret_compliant:failing_now[15m])
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
          and on (account_id, region, check) aws_secretsmanager_noncompliant_secrets{SELECTOR}
        )
        unless on (account_id, region, secret_name, check)
          secret_check:aws_secretsmanager_secret_compliant:failing_now
      )
    |||,
  },
  {
    record: 'secret:aws_secretsmanager_secret_info:failing_last15m',
    expr: |||
      topk by (account_id, region, secret_name) (
        1,
        max by (account_id, region, secret_name, %s) (
          last_over_time(aws_secretsmanager_secret_info{SELECTOR}[15m])
          and on (account_id, region, secret_name)
            secret_check:aws_secretsmanager_secret_compliant:failing
        )
      )
    ||| % std.join(', ', infoLabels),
  },
  {
    record: 'secret:aws_secretsmanager_secret_next_rotation_timestamp_seconds:rotation_overdue',
    expr: |||
      max by (account_id, region, secret_name) (
        last_over_time(aws_secretsmanager_secret_next_rotation_timestamp_seconds{SELECTOR}[15m])
        and on (account_id, region, secret_name)
          secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_overdue"}
      )
    |||,
  },
  {
    record: 'parameter_check:aws_ssm_parameter_compliant:failing_now',
    expr: |||
      min by (account_id, region, parameter_name, check) (
        aws_ssm_parameter_compliant{SELECTOR} == 0
      )
    |||,
  },
  {
    record: 'parameter_check:aws_ssm_parameter_compliant:failing_last15m',
    expr: |||
      last_over_time(parameter_check:aws_ssm_parameter_compliant:failing_now[15m])
    |||,
  },
  {
    record: 'parameter_check:aws_ssm_parameter_compliant:failing',
    expr: |||
      parameter_check:aws_ssm_parameter_compliant:failing_last15m
      unless on (account_id, region, parameter_name, check)
      (
        (
          parameter_check:aws_ssm_parameter_compliant:failing_last15m
          and on (account_id, region, check) aws_ssm_noncompliant_parameters{SELECTOR}
        )
        unless on (account_id, region, parameter_name, check)
          parameter_check:aws_ssm_parameter_compliant:failing_now
      )
    |||,
  },
  {
    record: 'parameter:aws_ssm_parameter_info:failing_last15m',
    expr: |||
      topk by (account_id, region, parameter_name) (
        1,
        max by (account_id, region, parameter_name, %s) (
          last_over_time(aws_ssm_parameter_info{SELECTOR}[15m])
          and on (account_id, region, parameter_name)
            parameter_check:aws_ssm_parameter_compliant:failing
        )
      )
    ||| % std.join(', ', parameterInfoLabels),
  },
] + std.flattenArrays([accountRules(r) for r in accountResources]);

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
