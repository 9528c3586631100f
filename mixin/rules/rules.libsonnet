// Recording rules: none. The alerts and dashboards read the exporter's series directly: the
// exporter already aggregates what is costly (aws_secretsmanager_noncompliant_secrets per check
// and target), and per-secret series are few enough to query as they are. The field exists so
// that tools expecting a mixin's prometheusRules (kube-prometheus, mixtool) find one.
{
  prometheusRules+:: {
    groups+: [],
  },
}
