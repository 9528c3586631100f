function(config) {
  name: 'secrets-rotation.hygiene',
  rules: [
    {
      alert: 'SecretUnused',
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="unused"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '1h',
      annotations: {
        summary: 'Secret {{ $labels.secret_name }} looks unused',
        description: "Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} has not been read for longer than the policy's unused_after (or was never read since it was created that long ago): it may be safe to delete.",
      },
    },
    {
      alert: 'SecretNotOnCustomerManagedKey',
      // kms_key comes from aws_secretsmanager_secret_info too, so the description can name the key.
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="kms_customer_managed"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment, kms_key)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Secret {{ $labels.secret_name }} is not encrypted with an allowed customer managed key',
        description: "Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} is encrypted with {{ $labels.kms_key }}, which is the AWS managed key or a key outside the policy's kms_key_arns, so access to it cannot be controlled by a key policy you own.",
      },
    },
    {
      alert: 'SecretRequiredTagsMissing',
      expr: |||
        min by (account_id, region, secret_name) (
          secret_check:aws_secretsmanager_secret_compliant:failing{check="required_tags"}
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          secret:aws_secretsmanager_secret_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'Secret {{ $labels.secret_name }} is missing required tags',
        description: "Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} lacks a tag the policy's required_tags asks for (or has no tag at all), so its owner cannot be told apart and its alerts cannot be routed to a team.",
      },
    },
  ],
}
