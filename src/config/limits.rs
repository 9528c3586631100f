//! Bounds checked before the YAML parser sees a document. libyaml looks
//! through every open flow collection for each token it reads, so its time
//! grows with the square of the nesting depth: a 200 KB file of nested `[`
//! would hold `config check`, a start or a reload for many seconds before
//! any validation could reject it.

use super::ConfigError;

/// A configuration is a few KB; a thousand accounts spelt out stay far
/// below this.
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The deepest configuration key, `policy.overrides[0].match.tags.<key>`,
/// is six levels down, and the count below may double that.
pub(super) const MAX_NESTING: usize = 64;

/// Rejects a document whose collections nest deeper than [`MAX_NESTING`].
///
/// This is a scan of the bytes in one pass, not a parser: it counts open
/// flow collections (`[`, `{`), indentation levels and the `- ` entries that
/// open a sequence on the line of their parent. Where it cannot tell, it
/// counts a level rather than miss one, so what it lets through the parser
/// handles in linear time, and a real configuration stays far below the
/// bound whatever it counts.
pub(super) fn check_nesting(yaml: &str) -> Result<(), ConfigError> {
    let mut scan = Scan::default();
    for (index, line) in yaml.split('\n').enumerate() {
        if let Some(column) = scan.line(line.as_bytes()) {
            return Err(ConfigError::single(
                format!("line {}", index + 1),
                format!(
                    "collections nested more than {MAX_NESTING} levels deep (column {})",
                    column + 1
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double,
}

#[derive(Default)]
struct Scan {
    /// Indentation of the open block collections, innermost last.
    indents: Vec<usize>,
    flow_depth: usize,
    /// Whether the next byte may start a node: only there do a quote and,
    /// outside flow collections, a bracket mean what they say. Inside a
    /// plain scalar (`name: it's`, `name: db[1]`) they are text.
    token_start: bool,
}

impl Scan {
    /// Reads one line; the column where the bound is passed, if it is.
    fn line(&mut self, line: &[u8]) -> Option<usize> {
        let indent = line.iter().take_while(|&&byte| byte == b' ').count();
        let rest = &line[indent..];
        let blank = rest.iter().all(u8::is_ascii_whitespace) || rest.first() == Some(&b'#');
        let mut column = 0;
        // Indentation means nothing inside a flow collection, and blank or
        // comment lines close nothing.
        if self.flow_depth == 0 {
            self.token_start = true;
            if !blank {
                while self.indents.last().is_some_and(|&open| open > indent) {
                    self.indents.pop();
                }
                if self.indents.last() != Some(&indent) {
                    self.indents.push(indent);
                }
            }
            // `--- [` starts a document with a flow collection.
            if line.starts_with(b"---") && line.get(3).is_none_or(|next| next.is_ascii_whitespace())
            {
                column = 3;
            }
        }
        let mut depth = self.indents.len();
        if depth > MAX_NESTING {
            return Some(indent);
        }
        // A quote is believed only up to the end of its line: past that, a
        // quote that was in fact text in a plain scalar (`name: x` with a
        // next line `  'y`) would hide the rest of the document. A real
        // quoted scalar over several lines is then scanned as if it were
        // not quoted, which can only count more.
        let mut quote = None;
        // An anchor or tag (`&a`, `!!seq`) goes before the node it names.
        let mut property = false;
        while column < line.len() {
            let byte = line[column];
            if let Some(open) = quote {
                match (open, byte) {
                    (Quote::Double, b'\\') => column += 1,
                    (Quote::Double, b'"') | (Quote::Single, b'\'') => quote = None,
                    _ => {}
                }
                column += 1;
                continue;
            }
            let next_is_space = line
                .get(column + 1)
                .is_none_or(|next| next.is_ascii_whitespace());
            match byte {
                b' ' | b'\t' | b'\r' => {
                    if property {
                        property = false;
                        self.token_start = true;
                    }
                }
                b'#' if column == 0 || line[column - 1].is_ascii_whitespace() => break,
                b'\'' | b'"' if self.token_start => {
                    quote = Some(if byte == b'"' {
                        Quote::Double
                    } else {
                        Quote::Single
                    });
                    self.token_start = false;
                }
                b'&' | b'!' if self.token_start => {
                    property = true;
                    self.token_start = false;
                }
                b'[' | b'{' if self.token_start || self.flow_depth > 0 => {
                    self.flow_depth += 1;
                    self.token_start = true;
                    if depth + self.flow_depth > MAX_NESTING {
                        return Some(column);
                    }
                }
                b']' | b'}' if self.flow_depth > 0 => {
                    self.flow_depth -= 1;
                    self.token_start = false;
                }
                b',' if self.flow_depth > 0 => self.token_start = true,
                // A `- ` entry opens a sequence; after the first on a line
                // each opens one more (`- - - x`).
                b'-' if self.token_start && next_is_space && self.flow_depth == 0 => {
                    if column > indent {
                        depth += 1;
                        if depth > MAX_NESTING {
                            return Some(column);
                        }
                    }
                }
                b':' | b'?' if next_is_space => self.token_start = true,
                _ => self.token_start = false,
            }
            column += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected_at(yaml: &str) -> Option<String> {
        check_nesting(yaml).err().map(|err| err.to_string())
    }

    fn flow(depth: usize) -> String {
        format!("regions: {}{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn real_configurations_pass() {
        for yaml in [
            "regions: [us-east-1]\n",
            "policy:\n  overrides:\n    - match: { tags: { environment: dev } }\n      max_age: 90d\n",
            "accounts:\n- id: \"1\"\n  regions: [us-east-1, \"eu-west-1\"]\n",
            "policy:\n  overrides:\n    - match: { name: \"db-[ab]*\" }\n",
            "# a comment with [[[[ brackets\nregions: [a] # and ]]]] more\n",
        ] {
            assert_eq!(rejected_at(yaml), None, "{yaml}");
        }
    }

    #[test]
    fn flow_nesting_up_to_the_bound_passes_and_one_more_fails() {
        // The top-level mapping is one level.
        assert_eq!(rejected_at(&flow(MAX_NESTING - 1)), None);
        assert_eq!(
            rejected_at(&flow(MAX_NESTING)).as_deref(),
            Some("line 1: collections nested more than 64 levels deep (column 73)")
        );
    }

    #[test]
    fn nested_mappings_in_flow_count_as_well() {
        let yaml = format!("regions: {}1{}\n", "{a: ".repeat(100), "}".repeat(100));
        assert!(rejected_at(&yaml).is_some());
    }

    #[test]
    fn nesting_spread_over_lines_counts() {
        let yaml: String = (0..100)
            .map(|depth| format!("{}[\n", " ".repeat(depth)))
            .collect();
        assert!(rejected_at(&format!("regions:\n{yaml}")).is_some());
    }

    #[test]
    fn block_nesting_by_indentation_and_by_dashes_counts() {
        let indented: String = (0..100)
            .map(|depth| format!("{}a{depth}:\n", " ".repeat(depth)))
            .collect();
        assert_eq!(
            rejected_at(&indented).as_deref(),
            Some("line 65: collections nested more than 64 levels deep (column 65)")
        );
        let dashes = format!("regions:\n  {}x\n", "- ".repeat(100));
        assert!(rejected_at(&dashes).is_some());
    }

    #[test]
    fn brackets_inside_quotes_and_plain_text_open_nothing() {
        let deep = "[".repeat(100);
        for yaml in [
            format!("name: \"{deep}\"\n"),
            format!("name: '{deep}'\n"),
            format!("name: \"a \\\" {deep}\"\n"),
            format!("name: 'it''s {deep}'\n"),
            format!("name: db{deep}\n"),
            format!("name: \"multi\n  line {deep}\"\n"),
        ] {
            assert_eq!(rejected_at(&yaml), None, "{yaml}");
        }
    }

    #[test]
    fn a_quote_inside_plain_text_hides_no_later_nesting() {
        for text in ["it's", "a \"b", "a\n  'b", "a\n  \"b"] {
            let yaml = format!("name: {text}\n{}", flow(100));
            assert!(rejected_at(&yaml).is_some(), "{yaml:.40}");
        }
        let yaml = format!("regions: [a\n  'b, {}]\n", "[".repeat(100));
        assert!(rejected_at(&yaml).is_some(), "{yaml:.40}");
    }

    #[test]
    fn a_flow_collection_after_an_anchor_a_tag_or_a_document_marker_counts() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        for yaml in [
            format!("regions: &r {deep}\n"),
            format!("regions: !!seq {deep}\n"),
            format!("--- {deep}\n"),
            format!("- {deep}\n"),
            format!("? {deep}\n"),
        ] {
            assert!(rejected_at(&yaml).is_some(), "{yaml:.40}");
        }
    }

    #[test]
    fn a_deep_document_is_rejected_at_its_first_excess() {
        let yaml = flow(100_000);
        assert!(
            rejected_at(&yaml)
                .is_some_and(|message| message.starts_with("line 1: collections nested"))
        );
    }
}
