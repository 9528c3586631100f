function(config) {
  name: 'secrets-rotation.exporter',
  rules: [
    {
      alert: 'SecretsRotationTargetDown',
      // The exporter keeps a failed target's series for three poll intervals, so a target that
      // fails one poll (a blip) is never reported; 15m is three of the default 5m intervals. With a
      // longer poll_interval, raise `for` to about two intervals. Every source is covered
      // (secretsmanager, cloudtrail, cloudwatch, organizations, lambda, ssm, rds, ec2): the rule
      // names none.
      expr: |||
        secrets_rotation_exporter_target_up{SELECTOR} == 0
      |||,
      'for': '15m',
      annotations: {
        summary: 'Exporter cannot read {{ $labels.source }} in account {{ $labels.account_id }}, region {{ $labels.region }}',
        description: "The exporter's polls of {{ $labels.source }} in account {{ $labels.account_id }}, region {{ $labels.region }} have failed for 15 minutes, so the compliance of what that source reads there (secrets, SSM parameters, RDS databases or VPCs) is unknown: a failed or overdue rotation, or any other failure there, would not alert.",
      },
    },
    {
      alert: 'SecretsRotationVerdictsUnknown',
      // A check the exporter could not judge has no compliant series, so its own alert cannot
      // fire. not_yet_read (the start-up CloudTrail lookback, version lookups left for the next
      // poll) passes within an hour; a denied call does not.
      expr: |||
        max by (job, instance, account_id, region, check, reason) (aws_secretsmanager_unevaluated_secrets{SELECTOR}) > 0
      |||,
      'for': '1h',
      annotations: {
        summary: 'Exporter cannot judge {{ $labels.check }} in account {{ $labels.account_id }}, region {{ $labels.region }}',
        description: '{{ $value }} secrets in account {{ $labels.account_id }}, region {{ $labels.region }} have had no {{ $labels.check }} verdict for an hour ({{ $labels.reason }}): the exporter could not get the data the check needs, so a failure there would not alert.',
      },
    },
    {
      alert: 'SecretsRotationPollsStale',
      // Also fires for an exporter that has been scraped for 30 minutes without ever completing
      // a poll (it has build_info but no last_poll timestamp).
      expr: |||
        (time() - secrets_rotation_exporter_last_poll_timestamp_seconds{SELECTOR} > 1800)
        or
        (
          secrets_rotation_exporter_build_info{SELECTOR}
          unless on (job, instance) secrets_rotation_exporter_last_poll_timestamp_seconds{SELECTOR}
        )
      |||,
      'for': '30m',
      annotations: {
        summary: 'Exporter {{ $labels.instance }} has not completed a poll in time',
        description: "Exporter {{ $labels.instance }} (job {{ $labels.job }}) has not completed a poll for more than 30 minutes: every secret's series are as old as its last poll, so new failures would not alert.",
      },
    },
    {
      alert: 'SecretsRotationConfigReloadFailed',
      // As Prometheus' own PrometheusBadConfig: a refused reload leaves the previous
      // configuration running, so nothing else looks wrong while the change waits. 10m leaves
      // time to fix a typo and reload again.
      expr: |||
        max_over_time(secrets_rotation_exporter_config_last_reload_successful{SELECTOR}[5m]) == 0
      |||,
      'for': '10m',
      annotations: {
        summary: 'Exporter {{ $labels.instance }} refused its new configuration',
        description: 'Exporter {{ $labels.instance }} (job {{ $labels.job }}) could not load its configuration file at the last reload and still runs the previous one: the change (an account added, a policy changed) is not in effect. Its log names every problem with its path.',
      },
    },
    {
      alert: 'SecretsRotationExporterAbsent',
      // The up branch names the failing instance when the scrape job matches the up selector
      // (by default any job containing secrets-rotation); the absent branch works whatever the job
      // is called, and fires only when no instance at all serves metrics (`or on ()` keeps it from
      // doubling the first branch).
      expr: |||
        (up{%s} == 0)
        or on ()
        absent(secrets_rotation_exporter_build_info{SELECTOR})
      ||| % config.secretsRotationUpSelector,
      'for': '10m',
      annotations: {
        summary: 'secrets-rotation-exporter is not being scraped',
        description: 'Prometheus has had no metrics from secrets-rotation-exporter {{ with $labels.instance }}instance {{ . }} {{ end }}for 10 minutes: no rotation failure anywhere would alert until it is back.',
      },
    },
    {
      alert: 'SecretsRotationThrottled',
      // rate() handles the counter reset of a restart; the ratio ignores quiet periods.
      expr: |||
        (
          sum by (job, instance, service) (rate(secrets_rotation_exporter_aws_requests_total{SELECTOR,outcome="throttled"}[15m]))
          / sum by (job, instance, service) (rate(secrets_rotation_exporter_aws_requests_total{SELECTOR}[15m]))
        ) > 0.1
      |||,
      'for': '30m',
      annotations: {
        summary: "AWS throttles the exporter's {{ $labels.service }} requests",
        description: "More than 10% of exporter {{ $labels.instance }}'s {{ $labels.service }} requests have been throttled for 30 minutes ({{ $value | humanizePercentage }}): polls take longer and may fail; lower the request rate or the concurrency.",
      },
    },
  ],
}
