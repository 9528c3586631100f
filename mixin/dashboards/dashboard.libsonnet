// What the three dashboards share: the data source and filter variables, the links between them,
// the Grafana 10/11 JSON model fields, and the selector put into every query. Each dashboard file
// gives only its panels, which are plain Grafana JSON (no grafonnet: nothing to vendor).
local selector = import '../lib/selector.libsonnet';

// Every panel and query reads the data source chosen in the `datasource` variable, so the
// dashboards import without an __inputs mapping.
local datasource = { type: 'prometheus', uid: '${datasource}' };

// __requires lists the panel plugins a dashboard uses, under Grafana's names for them.
local panelNames = {
  bargauge: 'Bar gauge',
  stat: 'Stat',
  'state-timeline': 'State timeline',
  table: 'Table',
  timeseries: 'Time series',
};

local allPanels(panels) =
  std.flattenArrays([[p] + allPanels(std.get(p, 'panels', [])) for p in panels]);

local queryVariable(config, name, label, query, multi=true) = {
  name: name,
  label: label,
  type: 'query',
  datasource: datasource,
  definition: selector.apply(config.secretsRotationSelector, query),
  query: self.definition,
  refresh: 2,  // on time range change: accounts and secrets come and go
  regex: '',
  sort: 1,
  hide: 0,
  multi: multi,
  includeAll: multi,
  current: {},
  options: [],
} + (
  // *All* as `.*` rather than the list of values: it also matches accounts without an inventory
  // series and secrets without a team tag, and keeps the queries short on large fleets.
  if multi then { allValue: '.*' } else {}
);

local variables(config) = {
  account: queryVariable(config,
                         'account',
                         'Account',
                         'label_values(aws_secretsmanager_secrets{SELECTOR}, account_id)'),
  region: queryVariable(config,
                        'region',
                        'Region',
                        'label_values(aws_secretsmanager_secrets{SELECTOR,account_id=~"$account"}, region)'),
  team: queryVariable(config,
                      'team',
                      'Team',
                      'label_values(aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region"}, tag_team)'),
  // One secret at a time: the single-secret view's panels are not built for several.
  secret: queryVariable(config,
                        'secret',
                        'Secret',
                        'label_values(aws_secretsmanager_secret_info{SELECTOR,account_id=~"$account",region=~"$region",tag_team=~"$team"}, secret_name)',
                        multi=false),
};

local withSelectorAndDatasource(config, panel) =
  panel
  + (if panel.type == 'row' then {} else { datasource: datasource })
  + (if std.objectHas(panel, 'targets') then {
       targets: [
         target {
           datasource: datasource,
           expr: selector.apply(config.secretsRotationSelector, target.expr),
         }
         for target in panel.targets
       ],
     } else {})
  + (if std.objectHas(panel, 'panels') then {
       panels: [withSelectorAndDatasource(config, p) for p in panel.panels],
     } else {});

{
  // uid and title are appended to the configured prefixes; variables are names from the
  // variables above, in the order the drop-downs show them (the data source always comes first).
  new(config, uid, title, description, variables, panels):: {
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
    ] + [
      { type: 'panel', id: type, name: panelNames[type], version: '' }
      for type in std.set([p.type for p in allPanels(panels) if p.type != 'row'])
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description: description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,  // shared crosshair
    id: null,
    // The dashboards list each other by their first tag and carry the time range and the
    // variables across.
    links: [
      {
        title: 'Secrets rotation',
        type: 'dashboards',
        tags: [config.secretsRotationDashboardTags[0]],
        asDropdown: false,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
      },
    ],
    panels: [withSelectorAndDatasource(config, p) for p in panels],
    refresh: config.secretsRotationDashboardRefresh,
    schemaVersion: 39,
    tags: config.secretsRotationDashboardTags,
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          regex: config.secretsRotationDatasourceRegex,
          hide: 0,
          refresh: 1,
          multi: false,
          includeAll: false,
          current: {},
          options: [],
        },
      ] + [$.variables(config)[name] for name in variables],
    },
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    timezone: '',
    title: config.secretsRotationDashboardTitlePrefix + title,
    uid: config.secretsRotationDashboardUIDPrefix + uid,
    version: 1,
    weekStart: '',
  },
  variables:: variables,
}
