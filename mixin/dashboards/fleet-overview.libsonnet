local dashboard = import 'dashboard.libsonnet';

{
  grafanaDashboards+:: {
    'fleet-overview.json': dashboard.new(
      $._config,
      uid='fleet',
      title='Fleet overview',
      description='Compliance of AWS Secrets Manager secrets (and SSM Parameter Store parameters, RDS master passwords and VPC endpoints, when inventoried) across accounts and regions, from secrets-rotation-exporter.',
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
          title: 'Secrets',
          description: 'Secrets inventoried in the selected accounts and regions (aws_secretsmanager_secrets).',
          targets: [
            {
              expr: 'sum(aws_secretsmanager_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
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
          title: 'Non-compliant secrets',
          description: 'Secrets of the selected teams that fail at least one check.',
          targets: [
            {
              expr: 'count(count by (account_id, region, secret_name) ((aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region"} == 0) and on(account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"})) or vector(0)',
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
          title: 'Failing rotations',
          description: 'Secrets whose newest CloudTrail rotation event is RotationFailed or RotationAbandoned. These page.',
          targets: [
            {
              expr: 'count((aws_secretsmanager_secret_compliant{SELECTOR,check="rotation_failed",account_id=~"$account",region=~"$region"} == 0) and on(account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}) or vector(0)',
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
          title: 'Overdue rotations',
          description: 'Secrets whose NextRotationDate plus overdue_grace has passed.',
          targets: [
            {
              expr: 'count((aws_secretsmanager_secret_compliant{SELECTOR,check="rotation_overdue",account_id=~"$account",region=~"$region"} == 0) and on(account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}) or vector(0)',
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
          title: 'Checks passing',
          description: 'Share of (secret, check) verdicts that are compliant, for the selected teams.',
          targets: [
            {
              expr: 'avg(aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region"} and on(account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"})',
              refId: 'A',
              instant: true,
              range: false,
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'percentunit',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'red',
                    value: null,
                  },
                  {
                    color: 'orange',
                    value: 0.9,
                  },
                  {
                    color: 'green',
                    value: 0.99,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              mappings: [],
              decimals: 1,
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
          title: 'Targets not polled',
          description: 'Account/region/source targets whose last poll failed: their compliance is unknown. See the exporter health dashboard.',
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
          title: 'Compliance',
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
          type: 'bargauge',
          title: 'Non-compliant secrets by check',
          description: 'aws_secretsmanager_noncompliant_secrets summed over the selected accounts and regions. This count is kept per account and region, so the team filter does not apply.',
          targets: [
            {
              expr: 'sum by (check) (aws_secretsmanager_noncompliant_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{check}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              min: 0,
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
            },
            overrides: [],
          },
          options: {
            displayMode: 'basic',
            orientation: 'horizontal',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'left',
            sizing: 'auto',
            minVizHeight: 16,
            minVizWidth: 8,
            maxVizHeight: 300,
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
          },
          id: 9,
          gridPos: {
            h: 9,
            w: 8,
            x: 0,
            y: 6,
          },
        },
        {
          type: 'timeseries',
          title: 'Non-compliant secrets by check over time',
          description: "How each check's count of non-compliant secrets moved.",
          targets: [
            {
              expr: 'sum by (check) (aws_secretsmanager_noncompliant_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{check}}',
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
            h: 9,
            w: 10,
            x: 8,
            y: 6,
          },
        },
        {
          type: 'bargauge',
          title: 'Checks passing by team',
          description: 'Share of compliant verdicts per owning team (the team tag on aws_secretsmanager_secret_info).',
          targets: [
            {
              expr: 'avg by (tag_team) (aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region"} * on(account_id, region, secret_name) group_left(tag_team) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"})',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{tag_team}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'percentunit',
              min: 0,
              max: 1,
              decimals: 1,
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'red',
                    value: null,
                  },
                  {
                    color: 'orange',
                    value: 0.9,
                  },
                  {
                    color: 'green',
                    value: 0.99,
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
            displayMode: 'basic',
            orientation: 'horizontal',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'left',
            sizing: 'auto',
            minVizHeight: 16,
            minVizWidth: 8,
            maxVizHeight: 300,
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
          },
          id: 11,
          gridPos: {
            h: 9,
            w: 6,
            x: 18,
            y: 6,
          },
        },
        {
          type: 'table',
          title: 'Failing rotations now',
          description: 'Secrets whose last rotation failed or was abandoned (check rotation_failed), with the owning team and how long ago the failure was recorded in CloudTrail.',
          targets: [
            {
              expr: '(time() - max by (account_id, region, secret_name) (aws_secretsmanager_secret_rotation_last_event_timestamp_seconds{SELECTOR,event=~"failed|abandoned",account_id=~"$account",region=~"$region"}) and on(account_id, region, secret_name) (aws_secretsmanager_secret_compliant{SELECTOR,check="rotation_failed",account_id=~"$account",region=~"$region"} == 0)) * on(account_id, region, secret_name) group_left(tag_team) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  secret_name: 'Secret',
                  tag_team: 'Team',
                  Value: 'Failed for',
                },
              },
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'red',
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
            overrides: [],
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
                displayName: 'Failed for',
                desc: false,
              },
            ],
          },
          id: 12,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 15,
          },
        },
        {
          type: 'table',
          title: 'Overdue rotations',
          description: 'Secrets whose scheduled rotation (NextRotationDate) is late by more than overdue_grace; the value is how late.',
          targets: [
            {
              expr: '((time() - aws_secretsmanager_secret_next_rotation_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region"}) and on(account_id, region, secret_name) (aws_secretsmanager_secret_compliant{SELECTOR,check="rotation_overdue",account_id=~"$account",region=~"$region"} == 0)) * on(account_id, region, secret_name) group_left(tag_team) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  secret_name: 'Secret',
                  tag_team: 'Team',
                  Value: 'Late by',
                },
              },
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 's',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'orange',
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
            overrides: [],
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
                displayName: 'Late by',
                desc: true,
              },
            ],
          },
          id: 13,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 15,
          },
        },
        {
          type: 'table',
          title: 'Oldest values',
          description: "The ten secrets whose value changed longest ago: now minus the newest of LastRotatedDate, the AWSCURRENT version's creation and CreatedDate (the rotation_age check's clock).",
          targets: [
            {
              expr: 'topk(10, (time() - max by (account_id, region, secret_name) ({SELECTOR,__name__=~"aws_secretsmanager_secret_(last_rotated|current_version_created|created)_timestamp_seconds",account_id=~"$account",region=~"$region"})) * on(account_id, region, secret_name) group_left(tag_team) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"})',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  secret_name: 'Secret',
                  tag_team: 'Team',
                  Value: 'Value age',
                },
              },
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
              custom: {
                align: 'auto',
                filterable: true,
                cellOptions: {
                  type: 'auto',
                },
              },
            },
            overrides: [],
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
                displayName: 'Value age',
                desc: true,
              },
            ],
          },
          id: 14,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 23,
          },
        },
        {
          type: 'table',
          title: 'Closest to max_age',
          description: 'The ten secrets whose value age is the largest share of the max_age in force for them (aws_secretsmanager_secret_rotation_max_age_seconds); above 100% the rotation_age check fails.',
          targets: [
            {
              expr: 'topk(10, ((time() - max by (account_id, region, secret_name) ({SELECTOR,__name__=~"aws_secretsmanager_secret_(last_rotated|current_version_created|created)_timestamp_seconds",account_id=~"$account",region=~"$region"})) / on(account_id, region, secret_name) aws_secretsmanager_secret_rotation_max_age_seconds{SELECTOR,account_id=~"$account",region=~"$region"}) * on(account_id, region, secret_name) group_left(tag_team) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"})',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  secret_name: 'Secret',
                  tag_team: 'Team',
                  Value: 'Share of max_age',
                },
              },
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'percentunit',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'green',
                    value: null,
                  },
                  {
                    color: 'orange',
                    value: 0.8,
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
              custom: {
                align: 'auto',
                filterable: true,
                cellOptions: {
                  type: 'color-background',
                  mode: 'basic',
                },
              },
            },
            overrides: [],
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
                displayName: 'Share of max_age',
                desc: true,
              },
            ],
          },
          id: 15,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 23,
          },
        },
        {
          type: 'row',
          title: 'Rotation events',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 31,
          },
          id: 16,
          panels: [],
        },
        {
          type: 'timeseries',
          title: 'Rotation events',
          description: 'CloudTrail rotation events first seen by the exporter, per interval (increase of aws_secretsmanager_rotation_events_total). History read at start-up is not counted.',
          targets: [
            {
              expr: 'sum by (event) (increase(aws_secretsmanager_rotation_events_total{SELECTOR,account_id=~"$account",region=~"$region"}[$__rate_interval]))',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{event}}',
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
            overrides: [
              {
                matcher: {
                  id: 'byName',
                  options: 'failed',
                },
                properties: [
                  {
                    id: 'color',
                    value: {
                      mode: 'fixed',
                      fixedColor: 'red',
                    },
                  },
                ],
              },
              {
                matcher: {
                  id: 'byName',
                  options: 'abandoned',
                },
                properties: [
                  {
                    id: 'color',
                    value: {
                      mode: 'fixed',
                      fixedColor: 'orange',
                    },
                  },
                ],
              },
              {
                matcher: {
                  id: 'byName',
                  options: 'succeeded',
                },
                properties: [
                  {
                    id: 'color',
                    value: {
                      mode: 'fixed',
                      fixedColor: 'green',
                    },
                  },
                ],
              },
              {
                matcher: {
                  id: 'byName',
                  options: 'started',
                },
                properties: [
                  {
                    id: 'color',
                    value: {
                      mode: 'fixed',
                      fixedColor: 'blue',
                    },
                  },
                ],
              },
            ],
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
          id: 17,
          gridPos: {
            h: 9,
            w: 12,
            x: 0,
            y: 32,
          },
        },
        {
          type: 'table',
          title: 'Latest rotation events',
          description: 'The newest CloudTrail rotation event of each kind per secret (aws_secretsmanager_secret_rotation_last_event_timestamp_seconds), newest first.',
          targets: [
            {
              expr: 'topk(25, aws_secretsmanager_secret_rotation_last_event_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region"} and on(account_id, region, secret_name) aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}) * 1000',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  secret_name: 'Secret',
                  event: 'Event',
                  Value: 'At',
                },
              },
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'dateTimeAsIso',
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
            overrides: [],
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
                displayName: 'At',
                desc: true,
              },
            ],
          },
          id: 18,
          gridPos: {
            h: 9,
            w: 12,
            x: 12,
            y: 32,
          },
        },
        {
          type: 'row',
          title: 'Inventory',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 41,
          },
          id: 19,
          panels: [],
        },
        {
          type: 'table',
          title: 'Secrets per account and region',
          description: 'Secrets inventoried and non-compliant findings (a secret failing two checks counts twice) per target.',
          targets: [
            {
              expr: 'sum by (account_id, region) (aws_secretsmanager_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'sum by (account_id, region) (aws_secretsmanager_noncompliant_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'B',
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
                  'Value #A': 'Secrets',
                  'Value #B': 'Findings',
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
            overrides: [],
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
                displayName: 'Findings',
                desc: true,
              },
            ],
          },
          id: 20,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 42,
          },
        },
        {
          type: 'timeseries',
          title: 'Secrets per account',
          description: 'aws_secretsmanager_secrets summed per account.',
          targets: [
            {
              expr: 'sum by (account_id) (aws_secretsmanager_secrets{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{account_id}}',
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
            y: 42,
          },
        },
        {
          type: 'row',
          title: 'SSM parameters',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 50,
          },
          id: 22,
          panels: [],
        },
        {
          type: 'stat',
          title: 'SSM parameters',
          description: 'SSM Parameter Store parameters listed in the selected accounts and regions (aws_ssm_parameters); 0 where sources.ssm_parameters is off. This count is kept per account and region, so the team filter does not apply.',
          targets: [
            {
              expr: 'sum(aws_ssm_parameters{SELECTOR,account_id=~"$account",region=~"$region"}) or vector(0)',
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
          id: 23,
          gridPos: {
            h: 8,
            w: 4,
            x: 0,
            y: 51,
          },
        },
        {
          type: 'bargauge',
          title: 'Non-compliant parameters by check',
          description: 'aws_ssm_noncompliant_parameters summed over the selected accounts and regions: parameter_age, kms_customer_managed, parameter_expiration (with require_parameter_expiration) and required_tags (with tags read). A check with an unknown verdict in a target has no count there. Kept per account and region, so the team filter does not apply.',
          targets: [
            {
              expr: 'sum by (check) (aws_ssm_noncompliant_parameters{SELECTOR,account_id=~"$account",region=~"$region"})',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{check}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              min: 0,
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
            },
            overrides: [],
          },
          options: {
            displayMode: 'basic',
            orientation: 'horizontal',
            showUnfilled: true,
            valueMode: 'color',
            namePlacement: 'left',
            sizing: 'auto',
            minVizHeight: 16,
            minVizWidth: 8,
            maxVizHeight: 300,
            reduceOptions: {
              calcs: [
                'lastNotNull',
              ],
              fields: '',
              values: false,
            },
          },
          id: 24,
          gridPos: {
            h: 8,
            w: 8,
            x: 4,
            y: 51,
          },
        },
        {
          type: 'table',
          title: 'Failing parameters now',
          description: 'SSM parameters with a failing verdict, one row per parameter and check, with the owning team and key: what the parameter alerts read (the recording rules parameter_check:aws_ssm_parameter_compliant:failing and parameter:aws_ssm_parameter_info:failing_last15m), so a parameter stays listed through a scrape gap and leaves at the evaluation after it recovers.',
          targets: [
            {
              expr: 'parameter_check:aws_ssm_parameter_compliant:failing{account_id=~"$account",region=~"$region"} * on(account_id, region, parameter_name) group_left(tag_team, tag_environment, kms_key) parameter:aws_ssm_parameter_info:failing_last15m{account_id=~"$account",region=~"$region",tag_team=~"$team"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
            {
              id: 'organize',
              options: {
                excludeByName: {
                  Time: true,
                  __name__: true,
                  instance: true,
                  job: true,
                  Value: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  parameter_name: 'Parameter',
                  check: 'Check',
                  tag_team: 'Team',
                  tag_environment: 'Environment',
                  kms_key: 'KMS key',
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
            overrides: [],
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
                displayName: 'Parameter',
                desc: false,
              },
            ],
          },
          id: 25,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 51,
          },
        },
        {
          type: 'table',
          title: 'Oldest parameters',
          description: 'The ten SSM parameters written longest ago (now minus LastModifiedDate, aws_ssm_parameter_last_modified_timestamp_seconds), with their type, tier, key and team. Parameter Store never rotates a value: past the policy max_age the parameter_age check fails.',
          targets: [
            {
              expr: 'topk(10, (time() - max by (account_id, region, parameter_name) (aws_ssm_parameter_last_modified_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region"})) * on(account_id, region, parameter_name) group_left(type, tier, kms_key, tag_team) max by (account_id, region, parameter_name, type, tier, kms_key, tag_team) (aws_ssm_parameter_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}))',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
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
                  parameter_name: 'Parameter',
                  type: 'Type',
                  tier: 'Tier',
                  kms_key: 'KMS key',
                  tag_team: 'Team',
                  Value: 'Value age',
                },
              },
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
              custom: {
                align: 'auto',
                filterable: true,
                cellOptions: {
                  type: 'auto',
                },
              },
            },
            overrides: [],
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
                displayName: 'Value age',
                desc: true,
              },
            ],
          },
          id: 26,
          gridPos: {
            h: 8,
            w: 24,
            x: 0,
            y: 59,
          },
        },
        {
          type: 'row',
          title: 'Databases and VPCs',
          collapsed: false,
          gridPos: {
            h: 1,
            w: 24,
            x: 0,
            y: 67,
          },
          id: 27,
          panels: [],
        },
        {
          type: 'stat',
          title: 'RDS databases',
          description: 'RDS DB instances and clusters listed in the selected accounts and regions (aws_rds_database_info; an Aurora member instance is not listed, its cluster stands for it); 0 where the exporter reads no RDS. Databases carry no team, so the team filter does not apply.',
          targets: [
            {
              expr: 'count(max by (account_id, region, db_identifier) (aws_rds_database_info{SELECTOR,account_id=~"$account",region=~"$region"})) or vector(0)',
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
          id: 28,
          gridPos: {
            h: 4,
            w: 4,
            x: 0,
            y: 68,
          },
        },
        {
          type: 'stat',
          title: 'VPCs',
          description: 'VPCs listed in the selected accounts and regions (aws_vpc_info), default VPCs included; 0 where the exporter reads no VPCs. VPCs carry no team, so the team filter does not apply.',
          targets: [
            {
              expr: 'count(max by (account_id, region, vpc_id) (aws_vpc_info{SELECTOR,account_id=~"$account",region=~"$region"})) or vector(0)',
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
          id: 29,
          gridPos: {
            h: 4,
            w: 4,
            x: 0,
            y: 72,
          },
        },
        {
          type: 'stat',
          title: 'Unmanaged master passwords',
          description: 'Databases whose master password Secrets Manager does not manage (aws_rds_database_compliant{check="master_password_managed"} == 0): nothing rotates it. Engines without a master password and read replicas have no verdict.',
          targets: [
            {
              expr: 'count(max by (account_id, region, db_identifier) (aws_rds_database_compliant{SELECTOR,account_id=~"$account",region=~"$region",check="master_password_managed"} == 0)) or vector(0)',
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
          id: 30,
          gridPos: {
            h: 4,
            w: 4,
            x: 4,
            y: 68,
          },
        },
        {
          type: 'stat',
          title: 'VPCs without an endpoint',
          description: 'VPCs without an available Secrets Manager interface endpoint with private DNS (aws_vpc_compliant{check="secretsmanager_endpoint"} == 0). Default VPCs (unless the exporter includes them) and VPCs with the exempt tag have no verdict.',
          targets: [
            {
              expr: 'count(max by (account_id, region, vpc_id) (aws_vpc_compliant{SELECTOR,account_id=~"$account",region=~"$region",check="secretsmanager_endpoint"} == 0)) or vector(0)',
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
          id: 31,
          gridPos: {
            h: 4,
            w: 4,
            x: 4,
            y: 72,
          },
        },
        {
          type: 'table',
          title: 'Databases and VPCs per account and region',
          description: 'Databases and VPCs listed per target, and how many of them fail their check now (0 where none does). Kept per account and region, so the team filter does not apply.',
          targets: [
            {
              expr: 'count by (account_id, region) (max by (account_id, region, db_identifier) (aws_rds_database_info{SELECTOR,account_id=~"$account",region=~"$region"}))',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'count by (account_id, region) (max by (account_id, region, db_identifier) (aws_rds_database_compliant{SELECTOR,account_id=~"$account",region=~"$region",check="master_password_managed"} == 0)) or 0 * count by (account_id, region) (max by (account_id, region, db_identifier) (aws_rds_database_info{SELECTOR,account_id=~"$account",region=~"$region"}))',
              refId: 'B',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'count by (account_id, region) (max by (account_id, region, vpc_id) (aws_vpc_info{SELECTOR,account_id=~"$account",region=~"$region"}))',
              refId: 'C',
              instant: true,
              range: false,
              format: 'table',
            },
            {
              expr: 'count by (account_id, region) (max by (account_id, region, vpc_id) (aws_vpc_compliant{SELECTOR,account_id=~"$account",region=~"$region",check="secretsmanager_endpoint"} == 0)) or 0 * count by (account_id, region) (max by (account_id, region, vpc_id) (aws_vpc_info{SELECTOR,account_id=~"$account",region=~"$region"}))',
              refId: 'D',
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
                  'Value #A': 'Databases',
                  'Value #B': 'Unmanaged master passwords',
                  'Value #C': 'VPCs',
                  'Value #D': 'VPCs without an endpoint',
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
            overrides: [],
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
                displayName: 'Unmanaged master passwords',
                desc: true,
              },
            ],
          },
          id: 32,
          gridPos: {
            h: 8,
            w: 16,
            x: 8,
            y: 68,
          },
        },
        {
          type: 'table',
          title: 'Databases without a managed master password',
          description: 'Databases failing master_password_managed, with their kind (instance or cluster) and engine: what RdsMasterPasswordNotManaged reads (the recording rules database_check:aws_rds_database_compliant:failing and database:aws_rds_database_info:failing_last15m), so a database stays listed through a scrape gap and leaves at the evaluation after it is fixed or deleted.',
          targets: [
            {
              expr: 'database_check:aws_rds_database_compliant:failing{account_id=~"$account",region=~"$region"} * on(account_id, region, db_identifier) group_left(kind, engine) database:aws_rds_database_info:failing_last15m{account_id=~"$account",region=~"$region"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
            {
              id: 'organize',
              options: {
                excludeByName: {
                  Time: true,
                  __name__: true,
                  instance: true,
                  job: true,
                  Value: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  db_identifier: 'Database',
                  check: 'Check',
                  kind: 'Kind',
                  engine: 'Engine',
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
            overrides: [],
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
                displayName: 'Database',
                desc: false,
              },
            ],
          },
          id: 33,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 76,
          },
        },
        {
          type: 'table',
          title: 'VPCs without a Secrets Manager endpoint',
          description: 'VPCs failing secretsmanager_endpoint, and whether each is the default VPC: what VpcSecretsManagerEndpointMissing reads (the recording rules vpc_check:aws_vpc_compliant:failing and vpc:aws_vpc_info:failing_last15m), so a VPC stays listed through a scrape gap and leaves at the evaluation after it gets an endpoint, is exempted or is deleted.',
          targets: [
            {
              expr: 'vpc_check:aws_vpc_compliant:failing{account_id=~"$account",region=~"$region"} * on(account_id, region, vpc_id) group_left(is_default) vpc:aws_vpc_info:failing_last15m{account_id=~"$account",region=~"$region"}',
              refId: 'A',
              instant: true,
              range: false,
              format: 'table',
            },
          ],
          transformations: [
            {
              id: 'organize',
              options: {
                excludeByName: {
                  Time: true,
                  __name__: true,
                  instance: true,
                  job: true,
                  Value: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  vpc_id: 'VPC',
                  check: 'Check',
                  is_default: 'Default VPC',
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
            overrides: [],
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
                displayName: 'VPC',
                desc: false,
              },
            ],
          },
          id: 34,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 76,
          },
        },
      ],
    ),
  },
}
