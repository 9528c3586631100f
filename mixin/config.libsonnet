// The mixin's settings. Override them with
//
//   (import 'secrets-rotation-mixin/mixin.libsonnet') + { _config+:: { ... } }
//
// Every key starts with `secretsRotation`: mixins are usually merged into one object with `+`, and
// their `_config`s with them, so unprefixed keys (`selector`, `runbookURLPattern`) would overwrite
// another mixin's.
{
  _config+:: {
    // Label matchers for the exporter's series, added to every selector of every alert and
    // dashboard query, e.g. 'job="secrets-rotation-exporter"' or 'job="sre", namespace="aws"'.
    // Empty by default: the rules then read the exporter's series whatever job scrapes them, and
    // per-secret alerts already collapse the copies of several replicas (see alerts/).
    secretsRotationSelector: '',

    // Picks the exporter's `up` series for SecretsRotationExporterAbsent, which has no exporter
    // metric to go by when the scrape fails. Defaults to the selector above when one is set; with
    // none, to any job whose name contains secrets-rotation.
    secretsRotationUpSelector:
      if self.secretsRotationSelector != '' then self.secretsRotationSelector
      else 'job=~".*secrets-rotation.*"',

    // The `severity` label of each alert: critical pages, warning and info make tickets in
    // alerts/alertmanager.example.yml. Change one with
    // `secretsRotationSeverities+: { SecretUnused: 'warning' }`.
    secretsRotationSeverities: {
      SecretRotationFailed: 'critical',
      SecretRotationOverdue: 'warning',
      SecretRotationOverdueCritical: 'critical',
      SecretRotationStuckPending: 'warning',
      SecretRotationDisabled: 'warning',
      SecretRotationIntervalTooLong: 'warning',
      SecretRotationAgeExceeded: 'warning',
      SecretRotationLambdaBroken: 'warning',
      SecretPreviousVersionStillRead: 'warning',
      SecretUnused: 'info',
      SecretNotOnCustomerManagedKey: 'warning',
      SecretRequiredTagsMissing: 'warning',
      SsmParameterTooOld: 'warning',
      SsmParameterNotOnCustomerManagedKey: 'warning',
      SsmParameterExpirationMissing: 'warning',
      SsmParameterRequiredTagsMissing: 'warning',
      RdsMasterPasswordNotManaged: 'warning',
      VpcSecretsManagerEndpointMissing: 'warning',
      SecretsRotationTargetDown: 'warning',
      SecretsRotationVerdictsUnknown: 'warning',
      SecretsRotationPollsStale: 'warning',
      SecretsRotationConfigReloadFailed: 'warning',
      SecretsRotationExporterAbsent: 'critical',
      SecretsRotationThrottled: 'info',
    },

    // Alerts left out of prometheusAlerts, by name: `secretsRotationDisabledAlerts+: ['SecretUnused']`.
    // A name that is no alert of this mixin is an error, so a typo cannot leave an alert on.
    secretsRotationDisabledAlerts: [],

    // Each alert's runbook_url: `%s` becomes the alert's name in lower case, which is the anchor
    // of its section in docs/runbooks.md. Point it at a fork or a wiki that keeps those anchors.
    secretsRotationRunbookURLPattern:
      'https://github.com/secrets-rotation-exporter/secrets-rotation-exporter/blob/main/docs/runbooks.md#%s',

    // Dashboards: uid = prefix + fleet | secret | exporter, title = prefix + the dashboard's name.
    secretsRotationDashboardUIDPrefix: 'secrets-rotation-',
    secretsRotationDashboardTitlePrefix: 'Secrets rotation / ',
    // The first tag is the one the dashboards' links list each other by.
    secretsRotationDashboardTags: ['secrets-rotation', 'aws', 'secrets-manager'],
    secretsRotationDashboardRefresh: '1m',
    // Limits the data source drop-down to Prometheus data sources whose name matches this regex
    // (Grafana's `regex` of a data source variable); empty lists them all.
    secretsRotationDatasourceRegex: '',
  },
}
