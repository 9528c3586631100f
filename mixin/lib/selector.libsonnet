// Expressions in this mixin mark each selector of an exporter series with SELECTOR:
//
//   aws_secretsmanager_secret_info{SELECTOR}             a series with no other matcher
//   aws_secretsmanager_secret_compliant{SELECTOR,check="rotation_failed"}
//
// apply() puts the configured matchers there, or drops the marker when there are none, so the
// default (empty) selector gives back the plain expressions, braces and all. A marker in any other
// shape is an error rather than a query that silently ignores the selector.
{
  apply(selector, expr)::
    // Counted by what strReplace removes: std.findSubstr is slow in Debian's jsonnet 0.18.
    local count(marker) =
      (std.length(expr) - std.length(std.strReplace(expr, marker, ''))) / std.length(marker);
    assert count('SELECTOR') == count('{SELECTOR,') + count('{SELECTOR}') :
           'SELECTOR must appear as {SELECTOR} or {SELECTOR,...} in: ' + expr;
    if selector == '' then
      std.strReplace(std.strReplace(expr, '{SELECTOR}', ''), '{SELECTOR,', '{')
    else
      std.strReplace(expr, 'SELECTOR', selector),
}
