(import 'fleet-overview.libsonnet') +
(import 'secret.libsonnet') +
(import 'exporter-health.libsonnet')
