// What the accounts around the secrets do to rotation: RDS databases whose master password no
// rotation reaches, and VPCs whose applications reach Secrets Manager over the internet. The
// alerts fire on the exporter's verdicts, aws_rds_database_compliant{check} and
// aws_vpc_compliant{check}, read through the recording rules
// database_check:aws_rds_database_compliant:failing, database:aws_rds_database_info:failing_last15m,
// vpc_check:aws_vpc_compliant:failing and vpc:aws_vpc_info:failing_last15m
// (../rules/rules.libsonnet), so they hold through a scrape gap or a restart and resolve at the
// next evaluation once the exporter, its rds or ec2 poll of the target having succeeded, reports
// the resource compliant or no longer lists it, in both metrics.verdicts modes. `for` is the
// parameter alerts' 15m. As for SSM parameters, the descriptions say what to do.
function(config) {
  name: 'secrets-rotation.accounts',
  rules: [
    {
      alert: 'RdsMasterPasswordNotManaged',
      // kind (instance or cluster) and engine come from aws_rds_database_info. kind also picks the
      // command the description names: modify-db-instance --db-instance-identifier or
      // modify-db-cluster --db-cluster-identifier. An Aurora member instance has no series: its
      // cluster holds the master password and stands for it.
      expr: |||
        min by (account_id, region, db_identifier) (
          database_check:aws_rds_database_compliant:failing{check="master_password_managed"}
        )
        * on (account_id, region, db_identifier) group_left (kind, engine)
          database:aws_rds_database_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'RDS database {{ $labels.db_identifier }} has a master password that Secrets Manager does not manage',
        description: 'RDS DB {{ $labels.kind }} {{ $labels.db_identifier }} ({{ $labels.engine }}) in account {{ $labels.account_id }}, region {{ $labels.region }} has no MasterUserSecret: its master password was typed by someone, lives wherever they kept it, and nothing rotates it. Let RDS manage it: aws rds modify-db-{{ $labels.kind }} --db-{{ $labels.kind }}-identifier {{ $labels.db_identifier }} --manage-master-user-password --apply-immediately. RDS then sets a new password and keeps it in a Secrets Manager secret that it rotates; applications that log in as the master user must read it from that secret.',
      },
    },
    {
      alert: 'VpcSecretsManagerEndpointMissing',
      // is_default comes from aws_vpc_info. Default VPCs are judged only when the exporter is told
      // to include them, and VPCs with the exempt tag are not judged: neither has a verdict.
      expr: |||
        min by (account_id, region, vpc_id) (
          vpc_check:aws_vpc_compliant:failing{check="secretsmanager_endpoint"}
        )
        * on (account_id, region, vpc_id) group_left (is_default)
          vpc:aws_vpc_info:failing_last15m
      |||,
      'for': '15m',
      annotations: {
        summary: 'VPC {{ $labels.vpc_id }} has no Secrets Manager interface endpoint',
        description: "VPC {{ $labels.vpc_id }}{{ if eq $labels.is_default \"true\" }} (the default VPC){{ end }} in account {{ $labels.account_id }}, region {{ $labels.region }} has no available interface endpoint for com.amazonaws.{{ $labels.region }}.secretsmanager with private DNS, so applications and rotation functions in it reach Secrets Manager over the internet or a NAT gateway, or not at all from subnets without either. Create an Interface endpoint for com.amazonaws.{{ $labels.region }}.secretsmanager in its private subnets with private DNS enabled, or enable private DNS on the existing one; a VPC that needs none can be exempted with the exporter's exempt tag.",
      },
    },
  ],
}
