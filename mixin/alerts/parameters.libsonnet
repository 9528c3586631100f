// SSM Parameter Store parameters (sources.ssm_parameters), judged by the exporter like secrets:
// the alerts fire on its verdicts, aws_ssm_parameter_compliant{check}, read through the recording
// rules parameter_check:aws_ssm_parameter_compliant:failing and
// parameter:aws_ssm_parameter_info:failing_last15m (../rules/rules.libsonnet), so they hold
// through a scrape gap or a restart and resolve at the next evaluation once the exporter says the
// parameter recovered, in both metrics.verdicts modes. Each `for` is the one of the secret alert
// it mirrors. Parameter Store has no rotation of its own: what keeps a parameter fresh is someone
// writing a new value, so the descriptions say what to do rather than what failed.
function(config) {
  name: 'secrets-rotation.parameters',
  rules: [
    {
      alert: 'SsmParameterTooOld',
      // The value is how long ago the parameter was last written. The threshold is the policy's
      // max_age (with its overrides), applied by the exporter: the rule reads the verdict and only
      // shows the age. The date is read filter-first (`and on` the failing verdicts inside max by);
      // the verdict alone fires too, with the value 0, where the date's family is not served
      // (metrics.exclude), as SecretRotationIntervalTooLong does.
      expr: |||
        (
          (
            time()
            - max by (account_id, region, parameter_name) (
                last_over_time(aws_ssm_parameter_last_modified_timestamp_seconds{SELECTOR}[15m])
                and on (account_id, region, parameter_name)
                  parameter_check:aws_ssm_parameter_compliant:failing{check="parameter_age"}
              )
          )
          or on (account_id, region, parameter_name)
          min by (account_id, region, parameter_name) (
            parameter_check:aws_ssm_parameter_compliant:failing{check="parameter_age"}
          )
        )
        * on (account_id, region, parameter_name) group_left (tag_team, tag_environment)
          parameter:aws_ssm_parameter_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'SSM parameter {{ $labels.parameter_name }} is older than its max_age',
        description: "SSM parameter {{ $labels.parameter_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} {{ if gt $value 0.0 }}was last written {{ $value | humanizeDuration }} ago, longer ago than{{ else }}was last written longer ago than{{ end }} the max_age the exporter's policy sets for it. Parameter Store never rotates a value: write a new one (and revoke the old one where it is valid), or move the credential to Secrets Manager with rotation turned on.",
      },
    },
    {
      alert: 'SsmParameterNotOnCustomerManagedKey',
      // kms_key comes from aws_ssm_parameter_info, so the description can name the key
      // (alias/aws/ssm for the AWS managed key).
      expr: |||
        min by (account_id, region, parameter_name) (
          parameter_check:aws_ssm_parameter_compliant:failing{check="kms_customer_managed"}
        )
        * on (account_id, region, parameter_name) group_left (tag_team, tag_environment, kms_key)
          parameter:aws_ssm_parameter_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'SSM parameter {{ $labels.parameter_name }} is not encrypted with an allowed customer managed key',
        description: "SecureString parameter {{ $labels.parameter_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} is encrypted with {{ $labels.kms_key }}, which is the AWS managed key or a key outside the policy's kms_key_arns, so access to it cannot be controlled by a key policy you own. Write the value again with --key-id set to an allowed customer managed key.",
      },
    },
    {
      alert: 'SsmParameterExpirationMissing',
      // Only with policy.require_parameter_expiration: without it the check does not apply and
      // has no series. Expiration policies need the Advanced tier.
      expr: |||
        min by (account_id, region, parameter_name) (
          parameter_check:aws_ssm_parameter_compliant:failing{check="parameter_expiration"}
        )
        * on (account_id, region, parameter_name) group_left (tag_team, tag_environment)
          parameter:aws_ssm_parameter_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'SSM parameter {{ $labels.parameter_name }} has no expiration in the future',
        description: 'SSM parameter {{ $labels.parameter_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} has no Expiration policy, or its expiration has passed, while the policy requires one. Parameter Store never rotates a value: write a new value with an Expiration policy (an Advanced tier parameter) and an ExpirationNotification, or move the credential to Secrets Manager with rotation turned on.',
      },
    },
    {
      alert: 'SsmParameterRequiredTagsMissing',
      // Judged only when the exporter reads tags (sources.ssm_parameters.tags: true).
      expr: |||
        min by (account_id, region, parameter_name) (
          parameter_check:aws_ssm_parameter_compliant:failing{check="required_tags"}
        )
        * on (account_id, region, parameter_name) group_left (tag_team, tag_environment)
          parameter:aws_ssm_parameter_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'SSM parameter {{ $labels.parameter_name }} is missing required tags',
        description: "SSM parameter {{ $labels.parameter_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} lacks a tag the policy's required_tags asks for (or has no tag at all), so its owner cannot be told apart and its alerts cannot be routed to a team. Tag it where it is created (add-tags-to-resource --resource-type Parameter).",
      },
    },
  ],
}
