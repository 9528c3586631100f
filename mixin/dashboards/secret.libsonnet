local dashboard = import 'dashboard.libsonnet';

{
  grafanaDashboards+:: {
    'secret.json': dashboard.new(
      $._config,
      uid='secret',
      title='Secret',
      description="One secret: every check's verdict, the value's age against max_age, the next rotation and the last rotation events.",
      variables=['account', 'region', 'team', 'secret'],
      panels=[
        {
          type: 'row',
          title: '$secret',
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
          title: 'Checks failing',
          description: 'Checks this secret fails now.',
          targets: [
            {
              expr: 'count(aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"} == 0) or vector(0)',
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
          title: 'Value age',
          description: "Now minus the newest of LastRotatedDate, the AWSCURRENT version's creation and CreatedDate.",
          targets: [
            {
              expr: 'time() - max by (account_id, region, secret_name) ({SELECTOR,__name__=~"aws_secretsmanager_secret_(last_rotated|current_version_created|created)_timestamp_seconds",account_id=~"$account",region=~"$region",secret_name="$secret"})',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
          title: 'max_age in force',
          description: "The policy's max_age for this secret, after overrides.",
          targets: [
            {
              expr: 'aws_secretsmanager_secret_rotation_max_age_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
          title: 'Next rotation in',
          description: 'NextRotationDate minus now; negative means the rotation is late.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_next_rotation_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"} - time()',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
                  {
                    color: 'green',
                    value: 0,
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
          title: 'Rotation schedule',
          description: 'Longest gap between rotations of the schedule.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_rotation_interval_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
          title: 'Rotation enabled',
          description: 'RotationEnabled as ListSecrets returns it.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_rotation_enabled{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
              mappings: [
                {
                  type: 'value',
                  options: {
                    '0': {
                      text: 'no',
                      color: 'text',
                      index: 0,
                    },
                    '1': {
                      text: 'yes',
                      color: 'text',
                      index: 1,
                    },
                  },
                },
              ],
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
            w: 2,
            x: 20,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Exempt',
          description: 'Exempt by the rotation-exempt tag.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_exempt{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
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
              mappings: [
                {
                  type: 'value',
                  options: {
                    '0': {
                      text: 'no',
                      color: 'text',
                      index: 0,
                    },
                    '1': {
                      text: 'yes',
                      color: 'text',
                      index: 1,
                    },
                  },
                },
              ],
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
          id: 8,
          gridPos: {
            h: 4,
            w: 2,
            x: 22,
            y: 1,
          },
        },
        {
          type: 'stat',
          title: 'Rotation type',
          description: 'Who rotates the secret (the rotation_type label of aws_secretsmanager_secret_info): lambda (a rotation function, judged by the rotation_lambda check), service (its owning service, such as RDS), external (managed rotation with an IAM role) or none.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{rotation_type}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'short',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'text',
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
          id: 15,
          gridPos: {
            h: 4,
            w: 12,
            x: 0,
            y: 5,
          },
        },
        {
          type: 'stat',
          title: 'Previous version last read',
          description: "The day (00:00 UTC) the AWSPREVIOUS version was last read, from its LastAccessedDate, which AWS keeps to the day. The previous_version_read check fails when that day is later than the rotation day plus previous_version_grace: something still reads the value the last rotation replaced.",
          targets: [
            {
              expr: 'aws_secretsmanager_secret_previous_version_last_accessed_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"} * 1000',
              refId: 'A',
              instant: true,
              range: false,
              legendFormat: '{{account_id}} {{region}}',
            },
          ],
          fieldConfig: {
            defaults: {
              unit: 'dateTimeAsIso',
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'text',
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
            textMode: 'value',
            wideLayout: true,
            showPercentChange: false,
          },
          id: 16,
          gridPos: {
            h: 4,
            w: 12,
            x: 12,
            y: 5,
          },
        },
        {
          type: 'table',
          title: 'Verdicts',
          description: 'Every check that applies to this secret and its verdict now.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
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
                  secret_name: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  check: 'Check',
                  Value: 'Verdict',
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
              mappings: [
                {
                  type: 'value',
                  options: {
                    '0': {
                      text: 'non-compliant',
                      color: 'red',
                      index: 0,
                    },
                    '1': {
                      text: 'compliant',
                      color: 'green',
                      index: 1,
                    },
                  },
                },
              ],
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
                displayName: 'Verdict',
                desc: false,
              },
            ],
          },
          id: 9,
          gridPos: {
            h: 9,
            w: 8,
            x: 0,
            y: 9,
          },
        },
        {
          type: 'state-timeline',
          title: 'Verdicts over time',
          description: "Each check's verdict over the time range.",
          targets: [
            {
              expr: 'aws_secretsmanager_secret_compliant{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: '{{check}} {{account_id}} {{region}}',
            },
          ],
          fieldConfig: {
            defaults: {
              mappings: [
                {
                  type: 'value',
                  options: {
                    '0': {
                      text: 'non-compliant',
                      color: 'red',
                      index: 0,
                    },
                    '1': {
                      text: 'compliant',
                      color: 'green',
                      index: 1,
                    },
                  },
                },
              ],
              thresholds: {
                mode: 'absolute',
                steps: [
                  {
                    color: 'red',
                    value: null,
                  },
                  {
                    color: 'green',
                    value: 1,
                  },
                ],
              },
              color: {
                mode: 'thresholds',
              },
              custom: {
                fillOpacity: 80,
                lineWidth: 0,
              },
            },
            overrides: [],
          },
          options: {
            showValue: 'never',
            mergeValues: true,
            alignValue: 'left',
            rowHeight: 0.8,
            legend: {
              showLegend: false,
              displayMode: 'list',
              placement: 'bottom',
            },
            tooltip: {
              mode: 'single',
              sort: 'none',
            },
          },
          id: 10,
          gridPos: {
            h: 9,
            w: 16,
            x: 8,
            y: 9,
          },
        },
        {
          type: 'timeseries',
          title: 'Value age against max_age',
          description: "The value's age climbs until a rotation resets it; the rotation_age check fails above max_age.",
          targets: [
            {
              expr: 'time() - max by (account_id, region, secret_name) ({SELECTOR,__name__=~"aws_secretsmanager_secret_(last_rotated|current_version_created|created)_timestamp_seconds",account_id=~"$account",region=~"$region",secret_name="$secret"})',
              refId: 'A',
              range: true,
              instant: false,
              legendFormat: 'age {{account_id}} {{region}}',
            },
            {
              expr: 'aws_secretsmanager_secret_rotation_max_age_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
              refId: 'B',
              range: true,
              instant: false,
              legendFormat: 'max_age {{account_id}} {{region}}',
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
            w: 12,
            x: 0,
            y: 18,
          },
        },
        {
          type: 'table',
          title: 'Last rotation events',
          description: 'The newest CloudTrail event of each kind for this secret.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_rotation_last_event_timestamp_seconds{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"} * 1000',
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
                  secret_name: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
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
          id: 12,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 18,
          },
        },
        {
          type: 'table',
          title: 'Dates',
          description: 'Every date the exporter knows for this secret.',
          targets: [
            {
              expr: 'label_replace({SELECTOR,__name__=~"aws_secretsmanager_secret_(created|last_changed|last_accessed|last_rotated|current_version_created|next_rotation|deletion|rotation_pending_since|previous_version_last_accessed)_timestamp_seconds",account_id=~"$account",region=~"$region",secret_name="$secret"}, "date", "$1", "__name__", "aws_secretsmanager_secret_(.+)_timestamp_seconds") * 1000',
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
                  secret_name: true,
                },
                indexByName: {},
                renameByName: {
                  account_id: 'Account',
                  region: 'Region',
                  date: 'Date',
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
          },
          id: 13,
          gridPos: {
            h: 8,
            w: 12,
            x: 0,
            y: 26,
          },
        },
        {
          type: 'table',
          title: 'Attributes',
          description: 'The labels of aws_secretsmanager_secret_info: ARN, account name, KMS key, rotation type, rotation Lambda, tags.',
          targets: [
            {
              expr: 'aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",secret_name="$secret"}',
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
                  Value: true,
                  instance: true,
                  job: true,
                },
                indexByName: {},
                renameByName: {},
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
          },
          id: 14,
          gridPos: {
            h: 8,
            w: 12,
            x: 12,
            y: 26,
          },
        },
      ],
    ),
  },
}
