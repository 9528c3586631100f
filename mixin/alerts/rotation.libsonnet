function(config) {
  name: 'secrets-rotation.rotation',
  rules: [
    {
      alert: 'SecretRotationFailed',
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_failed"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      annotations: {
        summary: 'Rotation of secret {{ $labels.secret_name }} failed',
        description: 'The newest rotation event of secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} is RotationFailed or RotationAbandoned in CloudTrail: the rotation did not complete, so the secret still holds its previous value and its AWSPENDING version may be left behind.',
      },
    },
    {
      alert: 'SecretRotationOverdue',
      // The value is how late the rotation is; the verdict already includes overdue_grace.
      expr: |||
        (
          time()
          - secret:aws_secretsmanager_secret_next_rotation_timestamp_seconds:rotation_overdue
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation of secret {{ $labels.secret_name }} is overdue',
        description: 'Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} was due to rotate {{ $value | humanizeDuration }} ago and has not: its NextRotationDate plus the overdue grace is in the past, so its schedule is not being honoured.',
      },
    },
    {
      alert: 'SecretRotationOverdueCritical',
      // Escalates when the rotation is more than 3 days late. This is an alerting choice, not a
      // compliance threshold: the exporter decides whether it is overdue at all. Computing the delay
      // from the timestamp, not a long `for`, means a Prometheus or exporter restart cannot reset the
      // escalation.
      expr: |||
        (
          time()
          - secret:aws_secretsmanager_secret_next_rotation_timestamp_seconds:rotation_overdue
          > 3 * 86400
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation of secret {{ $labels.secret_name }} is more than 3 days overdue',
        description: 'Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} was due to rotate {{ $value | humanizeDuration }} ago and still has not: the rotation has been overdue for days, so the value is older than its schedule promises.',
      },
    },
    {
      alert: 'SecretRotationStuckPending',
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_pending"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation of secret {{ $labels.secret_name }} is stuck pending',
        description: 'Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} has a version labelled AWSPENDING for longer than the pending timeout: a rotation started and never finished, and Secrets Manager will not start another one until the pending version is resolved.',
      },
    },
    {
      alert: 'SecretRotationDisabled',
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_enabled"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation of secret {{ $labels.secret_name }} is disabled',
        description: 'Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} does not have rotation turned on, so its value never changes unless someone changes it by hand.',
      },
    },
    {
      alert: 'SecretRotationIntervalTooLong',
      // The value is the longest gap of the secret's schedule. The verdict alone fires too, with
      // the value 0: a schedule that cannot be read or never fires again has no gap to serve, and
      // the large-fleet profile (docs/metrics.md) does not serve the gaps at all.
      expr: |||
        (
          max by (account_id, region, secret_name) (
            last_over_time(aws_secretsmanager_secret_rotation_interval_seconds{SELECTOR}[15m])
            and on (account_id, region, secret_name)
              secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_interval"}
          )
          or on (account_id, region, secret_name)
          min by (account_id, region, secret_name) (
            secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_interval"}
          )
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation schedule of secret {{ $labels.secret_name }} is longer than the policy allows',
        description: "The rotation schedule of secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} {{ if gt $value 0.0 }}can leave up to {{ $value | humanizeDuration }} between two rotations, longer than the max_rotation_interval the exporter's policy sets for it{{ else }}fails the exporter's rotation_interval check: its schedule cannot be read, never fires again, or its gap is not served (`secrets-rotation-exporter check` names which){{ end }}.",
      },
    },
    {
      alert: 'SecretRotationAgeExceeded',
      // The value is the max_age in force for the secret, as the exporter reports it: the
      // threshold lives in the exporter's policy (with its overrides), never in this rule.
      // Recomputing the age here would duplicate the exporter's "newest of LastRotatedDate, the
      // current version's creation, else CreatedDate" and miss exemptions.
      expr: |||
        max by (account_id, region, secret_name) (
          last_over_time(aws_secretsmanager_secret_rotation_max_age_seconds{SELECTOR}[15m])
          and on (account_id, region, secret_name)
            secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_age"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Value of secret {{ $labels.secret_name }} is older than its max_age',
        description: 'The value of secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} last changed longer ago than the max_age of {{ $value | humanizeDuration }} in force for it: the secret has not been rotated in time.',
      },
    },
    {
      alert: 'SecretRotationLambdaBroken',
      // The exporter reads the rotation function (GetFunctionConfiguration, GetPolicy) and judges
      // whether Secrets Manager can run it; this alert fires before the scheduled rotation fails.
      // rotation_lambda_arn comes from aws_secretsmanager_secret_info, as kms_key does for the key
      // alert, so the description can name the function. Secrets rotated by their owning service
      // or by managed external rotation (an IAM role, no Lambda) have no verdict for this check.
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="rotation_lambda"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment, rotation_lambda_arn)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Rotation Lambda of secret {{ $labels.secret_name }} cannot rotate it',
        description: 'Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} rotates with Lambda {{ $labels.rotation_lambda_arn }}, which Secrets Manager cannot run: the function is missing, not Active, its last update failed, its runtime is deprecated, or its resource policy does not let secretsmanager.amazonaws.com invoke it. The next scheduled rotation will fail.',
      },
    },
    {
      alert: 'SecretPreviousVersionStillRead',
      // The value is the day (00:00 UTC) the AWSPREVIOUS version was last read, as the exporter
      // reports it; the verdict already applies previous_version_grace (and its overrides) and
      // leaves out the read a multi-user rotation makes on the day of the next rotation.
      // LastAccessedDate is a day, so the verdict changes at most once a day.
      // The verdict alone fires too, with the value 0, where the day is not served (the
      // large-fleet profile of docs/metrics.md).
      expr: |||
        (
          max by (account_id, region, secret_name) (
            last_over_time(aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds{SELECTOR}[15m])
            and on (account_id, region, secret_name)
              secret_check:aws_secretsmanager_secret_compliant:failing{check="previous_version_read"}
          )
          or on (account_id, region, secret_name)
          min by (account_id, region, secret_name) (
            secret_check:aws_secretsmanager_secret_compliant:failing{check="previous_version_read"}
          )
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Previous value of secret {{ $labels.secret_name }} is still read after its rotation',
        description: 'The AWSPREVIOUS version of secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} was last read {{ if gt $value 0.0 }}on {{ $value | humanizeTimestamp }}, {{ end }}later than the rotation day plus the previous version grace: something still reads the value the last rotation replaced, so an application has not picked up the rotated value and may be using a credential that no longer works, or stops working at the next rotation.',
      },
    },
  ],
}
