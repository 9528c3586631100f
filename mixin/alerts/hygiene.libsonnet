function(config) {
  name: 'secrets-rotation.hygiene',
  rules: [
    {
      alert: 'SecretUnused',
      expr: |||
        (
          min by (account_id, region, secret_name) (
            last_over_time(aws_secretsmanager_secret_compliant{SELECTOR,check="unused"}[15m])
          ) == 0
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          topk by (account_id, region, secret_name) (1, last_over_time(aws_secretsmanager_secret_info{SELECTOR}[15m]))
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
        (
          min by (account_id, region, secret_name) (
            last_over_time(aws_secretsmanager_secret_compliant{SELECTOR,check="kms_customer_managed"}[15m])
          ) == 0
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment, kms_key)
          topk by (account_id, region, secret_name) (1, last_over_time(aws_secretsmanager_secret_info{SELECTOR}[15m]))
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
        (
          min by (account_id, region, secret_name) (
            last_over_time(aws_secretsmanager_secret_compliant{SELECTOR,check="required_tags"}[15m])
          ) == 0
        )
        * on (account_id, region, secret_name) group_left (tag_team, tag_environment)
          topk by (account_id, region, secret_name) (1, last_over_time(aws_secretsmanager_secret_info{SELECTOR}[15m]))
      |||,
      'for': '15m',
      annotations: {
        summary: 'Secret {{ $labels.secret_name }} is missing required tags',
        description: "Secret {{ $labels.secret_name }} in account {{ $labels.account_id }}, region {{ $labels.region }} lacks a tag the policy's required_tags asks for (or has no tag at all), so its owner cannot be told apart and its alerts cannot be routed to a team.",
      },
    },
  ],
}
