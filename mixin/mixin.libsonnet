// secrets-rotation-exporter's monitoring mixin: prometheusAlerts, prometheusRules and
// grafanaDashboards, shaped by _config (config.libsonnet). mixin/README.md shows how to use it.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
