local dashboard = import 'dashboard.libsonnet';

{
  grafanaDashboards+:: {
    'exporter-health.json': dashboard.new(
      $._config,
      uid='exporter',
      title='Exporter health',
      description='Is the exporter seeing every account and region: targets up, poll durations, AWS requests, throttles and errors.',
      variables=['account', 'region', 'team'],
      panels=[
        {
          type: 'row',
          title: 'Now',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 0,
          },
          id: 1,
          panels: [],
        },
        {
          type: 'stat',
          title: 'Targets up',
          description: 'Account/region/source targets whose last poll succeeded.',
          targets: [
            {
              expr: 'sum(secrets_rotation_exporter_target_up{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 2,
          gridPos: {
            h: 4,
            w: 4,
            x: 0,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Targets down',
          description: 'Targets whose last poll failed; their compliance is unknown until they recover.',
          targets: [
            {
              expr: 'count(secrets_rotation_exporter_target_up{SELECTOR,account_id=~"$account",region=~"$region"} == 0) or vector(0)',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                  {
                    color: 'red',
                    value: 1,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 3,
          gridPos: {
            h: 4,
            w: 4,
            x: 4,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Since last poll',
          description: 'Time since the last complete poll ended; compare with poll_interval.',
          targets: [
            {
              expr: 'time() - max(secrets_rotation_exporter_last_poll_timestamp_seconds{SELECTOR})',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 4,
          gridPos: {
            h: 4,
            w: 4,
            x: 8,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Polls skipped',
          description: 'Poll ticks skipped over the time range because the previous poll was still running.',
          targets: [
            {
              expr: 'sum(increase(secrets_rotation_exporter_polls_skipped_total{SELECTOR}[$__range]))',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                  {
                    color: 'orange',
                    value: 1,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
              decimals: 0,
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 5,
          gridPos: {
            h: 4,
            w: 4,
            x: 12,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'AWS throttles',
          description: 'AWS requests answered with a throttling error over the time range.',
          targets: [
            {
              expr: 'sum(increase(secrets_rotation_exporter_aws_requests_total{SELECTOR,outcome="throttled"}[$__range]))',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                  {
                    color: 'orange',
                    value: 1,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
              decimals: 0,
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 6,
          gridPos: {
            h: 4,
            w: 4,
            x: 16,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Version',
          description: 'The running build (secrets_rotation_exporter_build_info).',
          targets: [
            {
              expr: 'secrets_rotation_exporter_build_info{SELECTOR}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{version}} ({{revision}})',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'name',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 7,
          gridPos: {
            h: 4,
            w: 4,
            x: 20,
            y: 1,
          },
        },
        {
          type: 'row',
          title: 'Targets',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 5,
          },
          id: 8,
          panels: [],
        },
        {
          type: 'table',
          title: 'Targets',
          description: "Each account, region and source: the last poll's outcome, the time since it last succeeded, and how long it took.",
          targets: [
            {
              expr: 'secrets_rotation_exporter_target_up{SELECTOR,account_id=~"$account",region=~"$region"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'time() - secrets_rotation_exporter_target_last_success_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region"}',
              refId: 'B',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'secrets_rotation_exporter_target_poll_duration_seconds{SELECTOR,account_id=~"$account",region=~"$region"}',
              refId: 'C',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
            {
              id: 'merge',
              options: {},
            },
            {
              id: 'organize',
              options: {
                excludeByName: {
                  Time: true,
                  __name__: true,
                  instance: true,
                  job: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  source: 'Source',
                  'Value #A': 'Up',
                  'Value #B': 'Since last success',
                  'Value #C': 'Poll duration',
                },
              },
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
              custom: {
                align: 'auto',
                filterable: true,
                cellOptions: {
                  type: 'auto',
                },
              },
            },
            overrides: [
              {
                matcher: {
                  id: 'byName',
                  options: 'Up',
                },
                properties: [
                  {
                    id: 'mappings',
                    value: [
                      {
                        type: 'value',
                        options: {
                          '0': {
                            text: 'down',
                            color: 'red',
                            index: 0,
                          },
                          '1': {
                            text: 'up',
                            color: 'green',
                            index: 1,
                          },
                        },
                      },
                    ],
                  },
                  {
                    id: 'custom.cellOptions',
                    value: {
                      type: 'color-background',
                      mode: 'basic',
                    },
                  },
                ],
              },
              {
                matcher: {
                  id: 'byName',
                  options: 'Since last success',
                },
                properties: [
                  {
                    id: 'unit',
                    value: 's',
                  },
                ],
              },
              {
                matcher: {
                  id: 'byName',
                  options: 'Poll duration',
                },
                properties: [
                  {
                    id: 'unit',
                    value: 's',
                  },
                ],
              },
            ],
          },
          options: {
            showHeader: true,
            cellHeight: 'sm',
            footer: {
              show: false,
              reducer: [
                'sum',
              ],
              fields: '',
            },
            sortBy: [
              {
                displayName: 'Up',
                desc: false,
              },
            ],
          },
          id: 9,
          gridPos: {
            h: 8,
            w: 24,
            x: 0,
            y: 6,
          },
        },
        {
          type: 'stat',
          title: 'Checks not judged',
          description: 'Secrets with a check the exporter could not judge (a call denied, failing or not reached yet): no verdict, so no alert, for that check. aws_secretsmanager_unevaluated_secrets says which check and why.',
          targets: [
            {
              expr: 'sum(aws_secretsmanager_unevaluated_secrets{SELECTOR,account_id=~"$account",region=~"$region"}) or vector(0)',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                  {
                    color: 'red',
                    value: 1,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
            },
            overrides: [],
          },
          options: {
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
            colorMode: 'value',
            graphMode: 'none',
            justifyMode: 'auto',
            orientation: 'auto',
            textMode: 'auto',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 22,
          gridPos: {
            h: 8,
            w: 4,
            x: 0,
            y: 14,
          },
        },
        {
          type: 'timeseries',
          title: 'Targets up by source',
          description: 'Targets whose last poll succeeded, per source (secretsmanager inventory, cloudtrail events).',
          targets: [
            {
              expr: 'sum by (source) (secrets_rotation_exporter_target_up{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{source}} up',
            },
            {
              expr: 'count by (source) (secrets_rotation_exporter_target_up{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'B',
              range: true,
              instant: false,
              legendFormat: '{{source}} configured',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 10,
          gridPos: {
            h: 8,
            w: 10,
            x: 4,
            y: 14,
          },
        },
        {
          type: 'timeseries',
          title: 'Time since last success per target',
          description: 'Grows while a target keeps failing; its series are dropped after three poll intervals.',
          targets: [
            {
              expr: 'time() - secrets_rotation_exporter_target_last_success_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region"}',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{account_id}} {{region}} {{source}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 11,
          gridPos: {
            h: 8,
            w: 10,
            x: 14,
            y: 14,
          },
        },
        {
          type: 'row',
          title: 'Polls',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 22,
          },
          id: 12,
          panels: [],
        },
        {
          type: 'timeseries',
          title: 'Poll duration per target',
          description: "How long each target's last poll took.",
          targets: [
            {
              expr: 'secrets_rotation_exporter_target_poll_duration_seconds{SELECTOR,account_id=~"$account",region=~"$region"}',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{account_id}} {{region}} {{source}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 13,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 23,
          },
        },
        {
          type: 'timeseries',
          title: 'Complete poll duration',
          description: 'How long whole polls took (secrets_rotation_exporter_poll_duration_seconds): the 99th percentile and the mean.',
          targets: [
            {
              expr: 'histogram_quantile(0.99, sum by (le) (rate(secrets_rotation_exporter_poll_duration_seconds_bucket{SELECTOR}[$__rate_interval])))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: 'p99',
            },
            {
              expr: 'sum(rate(secrets_rotation_exporter_poll_duration_seconds_sum{SELECTOR}[$__rate_interval])) / sum(rate(secrets_rotation_exporter_poll_duration_seconds_count{SELECTOR}[$__rate_interval]))',
              refId: 'B',
              range: true,
              instant: false,
              legendFormat: 'mean',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 14,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 23,
          },
        },
        {
          type: 'timeseries',
          title: 'Time since last poll',
          description: 'Time since the last complete poll ended; a saw-tooth up to poll_interval is normal.',
          targets: [
            {
              expr: 'time() - secrets_rotation_exporter_last_poll_timestamp_seconds{SELECTOR}',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{instance}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 15,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 31,
          },
        },
        {
          type: 'timeseries',
          title: 'Polls skipped',
          description: 'Poll ticks skipped because the previous poll was still running: the poll takes longer than poll_interval.',
          targets: [
            {
              expr: 'sum(increase(secrets_rotation_exporter_polls_skipped_total{SELECTOR}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: 'skipped',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              custom: {
                drawStyle: 'bars',
                lineWidth: 1,
                fillOpacity: 80,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 16,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 31,
          },
        },
        {
          type: 'row',
          title: 'AWS',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 39,
          },
          id: 17,
          panels: [],
        },
        {
          type: 'timeseries',
          title: 'AWS requests by operation and outcome',
          description: 'Request attempts per second (secrets_rotation_exporter_aws_requests_total), retries included.',
          targets: [
            {
              expr: 'sum by (service, operation, outcome) (rate(secrets_rotation_exporter_aws_requests_total{SELECTOR}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{operation}} {{outcome}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'reqps',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'normal',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 18,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 40,
          },
        },
        {
          type: 'timeseries',
          title: 'Throttled AWS requests',
          description: 'Requests per second answered with a throttling error. CloudTrail LookupEvents allows 2 per second per account and region.',
          targets: [
            {
              expr: 'sum by (service, operation) (rate(secrets_rotation_exporter_aws_requests_total{SELECTOR,outcome="throttled"}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{operation}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'reqps',
              custom: {
                drawStyle: 'line',
                lineWidth: 1,
                fillOpacity: 10,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'none',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 19,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 40,
          },
        },
        {
          type: 'timeseries',
          title: 'Errors by reason',
          description: 'Failed polls per interval by source and reason (throttled, access_denied, timeout, network, service, invalid_response, other).',
          targets: [
            {
              expr: 'sum by (source, reason) (increase(secrets_rotation_exporter_errors_total{SELECTOR,account_id=~"$account",region=~"$region"}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{source}} {{reason}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              custom: {
                drawStyle: 'bars',
                lineWidth: 1,
                fillOpacity: 80,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'normal',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 20,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 48,
          },
        },
        {
          type: 'timeseries',
          title: 'Errors by target',
          description: 'Failed polls per interval by account and region.',
          targets: [
            {
              expr: 'sum by (account_id, region) (increase(secrets_rotation_exporter_errors_total{SELECTOR,account_id=~"$account",region=~"$region"}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{account_id}} {{region}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              custom: {
                drawStyle: 'bars',
                lineWidth: 1,
                fillOpacity: 80,
                showPoints: 'never',
                spanNulls: false,
                stacking: {
                  mode: 'normal',
                  group: 'A',
                },
                axisPlacement: 'auto',
                pointSize: 4,
              },
              color: {
                mode: 'palette-classic',
              },
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                ],
              },
              mappings: [],
              min: 0,
            },
            overrides: [],
          },
          options: {
            legend: {
              displayMode: 'table',
              placement: 'right',
              showLegend: true,
              calcs: [
                'lastNotNull',
              ],
            },
            tooltip: {
              mode: 'multi',
              sort: 'desc',
            },
          },
          id: 21,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 48,
          },
        },
      ],
    ),
  },
}
