// A YAML writer for the rule files: block style, arrays indented under their key, strings in
// double quotes (JSON escapes, which YAML reads the same) and multi-line strings as `|` blocks so
// that expressions read as they were written. It does what std.manifestYamlDoc(v, true, false)
// does, but that takes over ten seconds for the rule file in Debian's jsonnet 0.18, this well
// under one.
local isScalar(v) = !std.isObject(v) && !std.isArray(v);
local isEmpty(v) = (std.isObject(v) && std.length(std.objectFields(v)) == 0) || v == [];

{
  manifest(value):: self.block(value, '') + '\n',

  // A string that spans lines becomes a literal block, unless its first line starts with a space
  // (which would need an indentation indicator): those stay quoted.
  scalar(v, indent)::
    if std.isString(v) && std.length(std.strReplace(v, '\n', '')) != std.length(v)
       && !std.startsWith(v, ' ') then
      local chomped = std.endsWith(v, '\n');
      local body = if chomped then std.substr(v, 0, std.length(v) - 1) else v;
      (if chomped then '|' else '|-') + '\n' + indent + '  '
      + std.strReplace(body, '\n', '\n' + indent + '  ')
    else if std.isString(v) then std.escapeStringJson(v)
    else if std.isObject(v) then '{}'
    else if std.isArray(v) then '[]'
    else std.manifestJson(v),

  block(v, indent)::
    if std.isObject(v) then
      std.join('\n', [
        local field = v[k];
        indent + $.key(k) + ':'
        + (if isScalar(field) || isEmpty(field) then ' ' + $.scalar(field, indent)
           else '\n' + $.block(field, indent + '  '))
        for k in std.objectFields(v)
      ])
    else if std.isArray(v) then
      std.join('\n', [
        if isScalar(item) || isEmpty(item) then indent + '- ' + $.scalar(item, indent)
        else
          // The item's block at two more spaces, its first indentation turned into "- ".
          local inner = $.block(item, indent + '  ');
          indent + '- ' + std.substr(inner, std.length(indent) + 2, std.length(inner))
        for item in v
      ])
    else indent + $.scalar(v, indent),

  // Keys are written bare when they are letters, digits and _ . / - (YAML reads those as plain
  // strings); anything else is quoted.
  key(k)::
    local rest = std.foldl(function(s, c) std.strReplace(s, c, ''),
                           std.stringChars('abcdefghijklmnopqrstuvwxyz0123456789_./-'),
                           std.asciiLower(k));
    if k != '' && rest == '' && !std.member(['true', 'false', 'null', 'yes', 'no', 'on', 'off', 'y', 'n'], std.asciiLower(k))
    then k else std.escapeStringJson(k),
}
