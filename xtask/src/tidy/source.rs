//! The source-text rules: file length, no `unwrap`/`expect` outside tests,
//! and the `missing_docs` lint in every library crate's root.
//!
//! The checks read rustfmt-formatted source line by line: [`code_lines`]
//! blanks comments and the insides of string and character literals, so
//! nothing written in prose or data counts as code, and a `#[cfg(test)]`
//! item ends at the first line back at its own indentation that closes it.

use std::path::{Path, PathBuf};

use super::Violation;

/// The longest a source file may be, in lines.
pub const MAX_LINES: usize = 700;

/// The comment that lets one `unwrap`/`expect` stand (same or previous line),
/// followed by the reason.
pub const ALLOW_UNWRAP: &str = "// tidy: allow(unwrap)";

/// A file over [`MAX_LINES`] lines.
pub fn check_length(path: &str, text: &str) -> Option<Violation> {
    let lines = text.lines().count();
    (lines > MAX_LINES).then(|| Violation {
        path: path.to_string(),
        line: MAX_LINES + 1,
        rule: "file-length",
        detail: format!("{lines} lines, the limit is {MAX_LINES}: split the file by theme"),
    })
}

/// A library crate root without `#![deny(missing_docs)]` or `#![warn(missing_docs)]`.
pub fn check_docs_lint(path: &str, text: &str) -> Option<Violation> {
    let has = code_lines(text).iter().any(|l| {
        let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        l == "#![deny(missing_docs)]" || l == "#![warn(missing_docs)]"
    });
    (!has).then(|| Violation {
        path: path.to_string(),
        line: 1,
        rule: "missing-docs",
        detail: "the crate root lacks #![deny(missing_docs)] (every public item documented)"
            .to_string(),
    })
}

/// Is `path` (relative, `/`-separated) test code by its name or place alone:
/// `tests.rs`, `*_tests.rs`, or under a `tests/`, `benches/` or `examples/` folder.
pub fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').collect::<Vec<_>>();
    let file = parts.pop().unwrap_or_default();
    file == "tests.rs"
        || file.ends_with("_tests.rs")
        || parts
            .iter()
            .any(|d| matches!(*d, "tests" | "benches" | "examples"))
}

/// The files and folders that `#[cfg(test)] mod name;` declarations in the
/// file at `path` bring in: `name.rs` and everything under `name/`.
pub fn test_modules(path: &Path, text: &str) -> Vec<PathBuf> {
    let base = match path.file_name().and_then(|f| f.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") | None => {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        }
        Some(_) => path.with_extension(""),
    };
    let mut out = Vec::new();
    scan(text, |event| {
        if let Scan::TestModuleFile(name) = event {
            out.push(base.join(format!("{name}.rs")));
            out.push(base.join(name));
        }
    });
    out
}

/// Every `.unwrap()`, `.expect(`, `Option::unwrap` and the like in `text`
/// that is not test code and not allowed by [`ALLOW_UNWRAP`] with a reason.
pub fn check_unwrap(path: &str, text: &str) -> Vec<Violation> {
    let original: Vec<&str> = text.lines().collect();
    let allowed = |i: usize| {
        let allows = |l: &str| {
            l.find(ALLOW_UNWRAP)
                .is_some_and(|at| !l[at + ALLOW_UNWRAP.len()..].trim().is_empty())
        };
        allows(original[i])
            || (i > 0
                && original[i - 1].trim_start().starts_with(ALLOW_UNWRAP)
                && allows(original[i - 1]))
    };
    let mut out = Vec::new();
    scan(text, |event| {
        if let Scan::Code(i, code) = event {
            if let Some(call) = panicking_call(code) {
                if !allowed(i) {
                    out.push(Violation {
                        path: path.to_string(),
                        line: i + 1,
                        rule: "unwrap",
                        detail: format!(
                            "`{call}` outside tests: return an error, or `{ALLOW_UNWRAP} <why it cannot fail>`"
                        ),
                    });
                }
            }
        }
    });
    out
}

/// The panicking call in a line of code, if any: `unwrap`/`expect` called
/// as a method (`.unwrap()`, `.expect(`) or named as a path (`Option::unwrap`).
fn panicking_call(code: &str) -> Option<&'static str> {
    for (name, shown) in [("unwrap", "unwrap()"), ("expect", "expect(…)")] {
        let mut from = 0;
        while let Some(at) = code[from..].find(name).map(|i| i + from) {
            from = at + name.len();
            let before = &code[..at];
            let after = code[from..].chars().next();
            if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // unwrap_or, expect_err, …
            }
            let method = before.trim_end().ends_with('.') && after == Some('(');
            let path = before.ends_with("::") && after != Some('(');
            if method || path {
                return Some(shown);
            }
        }
    }
    None
}

/// What [`scan`] reports.
enum Scan<'a> {
    /// A line of non-test code (index, code with comments and literals blanked).
    Code(usize, &'a str),
    /// `#[cfg(test)] mod name;`: the module's file is test code.
    TestModuleFile(&'a str),
}

/// Walks the code lines of `text`, skipping `#[cfg(test)]` items.
fn scan(text: &str, mut f: impl FnMut(Scan<'_>)) {
    let lines = code_lines(text);
    let mut cfg_test = false;
    let mut skip_to: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let indent = &line[..line.len() - line.trim_start().len()];
        if let Some(close) = &skip_to {
            let closes = trimmed.starts_with(['}', ')', ']'])
                && trimmed.ends_with(['}', ';', ',', ')', ']']);
            if indent == close && closes {
                skip_to = None;
            }
            continue;
        }
        if is_cfg_test(trimmed) {
            cfg_test = true;
            continue;
        }
        if cfg_test {
            if trimmed.is_empty() || trimmed.starts_with("#[") {
                continue; // more attributes of the same item
            }
            cfg_test = false;
            let one_line = trimmed.ends_with(';')
                || (trimmed.ends_with('}')
                    && trimmed.matches('{').count() == trimmed.matches('}').count());
            if one_line {
                if let Some(name) = module_declaration(trimmed) {
                    f(Scan::TestModuleFile(name));
                }
            } else {
                skip_to = Some(indent.to_string());
            }
            continue;
        }
        f(Scan::Code(i, line));
    }
}

/// `#[cfg(test)]` or `#[cfg(all(test, …))]`, not `#[cfg(any(test, …))]`
/// (compiled outside tests too).
fn is_cfg_test(trimmed: &str) -> bool {
    let t: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    t == "#[cfg(test)]" || t.starts_with("#[cfg(all(test,")
}

/// `name` of `mod name;` / `pub(crate) mod name;`.
fn module_declaration(trimmed: &str) -> Option<&str> {
    let rest = trimmed.strip_suffix(';')?;
    let at = rest.find("mod ")?;
    let (vis, name) = (&rest[..at], rest[at + 4..].trim());
    let vis_ok = vis.is_empty() || vis.trim_start().starts_with("pub");
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    (vis_ok && name_ok).then_some(name)
}

/// The lines of `text` with comments removed and the insides of string and
/// character literals blanked (quotes kept), so that only code remains.
/// Indentation is kept; a line inside a multi-line literal keeps only what
/// is outside it.
pub fn code_lines(text: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Code,
        Block(u32),
        Str,
        RawStr(usize),
    }
    let mut state = State::Code;
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut code = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match state {
                State::Block(depth) => {
                    if c == '*' && next == Some('/') {
                        state = if depth == 1 {
                            State::Code
                        } else {
                            State::Block(depth - 1)
                        };
                        i += 2;
                        continue;
                    }
                    if c == '/' && next == Some('*') {
                        state = State::Block(depth + 1);
                        i += 2;
                        continue;
                    }
                }
                State::Str => {
                    if c == '\\' {
                        i += 2;
                        continue;
                    }
                    if c == '"' {
                        code.push('"');
                        state = State::Code;
                    }
                }
                State::RawStr(hashes) => {
                    if c == '"'
                        && chars[i + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|h| **h == '#')
                            .count()
                            == hashes
                    {
                        code.push('"');
                        state = State::Code;
                        i += 1 + hashes;
                        continue;
                    }
                }
                State::Code => {
                    if c == '/' && next == Some('/') {
                        break; // line comment, doc comment
                    }
                    if c == '/' && next == Some('*') {
                        state = State::Block(1);
                        i += 2;
                        continue;
                    }
                    if c == '"' {
                        code.push('"');
                        state = State::Str;
                        i += 1;
                        continue;
                    }
                    let raw_prefix = !ident_before(&chars, i)
                        || (i > 0 && chars[i - 1] == 'b' && !ident_before(&chars, i - 1));
                    if c == 'r' && matches!(next, Some('"' | '#')) && raw_prefix {
                        let hashes = chars[i + 1..].iter().take_while(|h| **h == '#').count();
                        if chars.get(i + 1 + hashes) == Some(&'"') {
                            code.push('"');
                            state = State::RawStr(hashes);
                            i += 2 + hashes;
                            continue;
                        }
                    }
                    if c == '\'' {
                        // A character literal ('x', '\n', '\u{..}'), or a lifetime.
                        if next == Some('\\') {
                            // Past the escaped character: '\'' ends one further.
                            let end = chars.iter().skip(i + 3).position(|c| *c == '\'');
                            code.push_str("''");
                            i = end.map_or(chars.len(), |e| i + 4 + e);
                            continue;
                        }
                        if chars.get(i + 2) == Some(&'\'') {
                            code.push_str("''");
                            i += 3;
                            continue;
                        }
                    }
                    code.push(c);
                }
            }
            i += 1;
        }
        out.push(code);
    }
    out
}

/// Is the character before `i` part of an identifier (`for` in `for"`… is
/// not a raw string prefix)?
fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwrap_lines(text: &str) -> Vec<usize> {
        check_unwrap("x.rs", text).iter().map(|v| v.line).collect()
    }

    #[test]
    fn comments_and_literals_are_not_code() {
        let text = "let a = \"x.unwrap()\"; // y.unwrap()\n\
                    /// z.unwrap()\n\
                    let b = '\"'; let c = '\\''; /* q.unwrap() */ d.unwrap();\n\
                    let s = r#\"a \" .unwrap()\"#;\n\
                    fn f<'a>(x: &'a str) {}";
        let lines = code_lines(text);
        assert_eq!(lines[0], "let a = \"\"; ");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], "let b = ''; let c = '';  d.unwrap();");
        assert_eq!(lines[3], "let s = \"\";");
        assert_eq!(lines[4], "fn f<'a>(x: &'a str) {}");
    }

    #[test]
    fn multi_line_strings_and_block_comments_are_blanked() {
        let text = "let a = \"one\n  two.unwrap()\n\"; b.unwrap();\n/* c\n d.unwrap() /* e */ f.unwrap()\n*/ g";
        assert_eq!(
            code_lines(text),
            ["let a = \"", "", "\"; b.unwrap();", "", "", " g"]
        );
    }

    #[test]
    fn unwrap_and_expect_are_found_but_not_their_safe_cousins() {
        let text = "a.unwrap();\n\
                    b.expect(\"why\");\n\
                    c.unwrap_or(1);\n\
                    d.expect_err(\"x\");\n\
                    e.map(Option::unwrap);\n\
                    f.unwrap_or_default();\n\
                    let unwrap = 1;\n\
                    g\n    .expect(\"chained\");";
        assert_eq!(unwrap_lines(text), [1, 2, 5, 9]);
        let v = &check_unwrap("crate/src/a.rs", "x.unwrap();")[0];
        assert_eq!(
            v.to_string().split(": ").take(2).collect::<Vec<_>>(),
            ["crate/src/a.rs:1", "unwrap"]
        );
    }

    #[test]
    fn the_trailing_test_module_is_skipped() {
        let text = "fn f() {}\n\
                    #[cfg(test)]\n\
                    mod tests {\n    fn g() { x.unwrap(); }\n}\n";
        assert!(unwrap_lines(text).is_empty());
    }

    #[test]
    fn a_test_only_item_inside_an_impl_ends_at_its_indentation() {
        let text = "impl A {\n\
                    \x20   #[cfg(test)]\n\
                    \x20   #[allow(dead_code)]\n\
                    \x20   pub(crate) fn len(\n\
                    \x20       &self,\n\
                    \x20   ) -> usize {\n\
                    \x20       self.x.unwrap()\n\
                    \x20   }\n\
                    \x20   fn real(&self) { self.y.unwrap() }\n\
                    }\n";
        assert_eq!(unwrap_lines(text), [9]);
    }

    #[test]
    fn a_one_line_test_item_ends_on_its_line() {
        let text =
            "impl A {\n    #[cfg(test)]\n    fn t() { a.unwrap() }\n    fn f() { b.unwrap() }\n}\n";
        assert_eq!(unwrap_lines(text), [4]);
        let text = "#[cfg(test)]\nuse x::{\n    a,\n};\nfn f() { b.unwrap() }\n";
        assert_eq!(unwrap_lines(text), [5]);
    }

    #[test]
    fn cfg_any_test_is_not_test_code() {
        let text = "#[cfg(any(test, feature = \"x\"))]\nfn f() { a.unwrap() }\n";
        assert_eq!(unwrap_lines(text), [2]);
        let text = "#[cfg(all(test, unix))]\nfn f() {\n    a.unwrap()\n}\n";
        assert!(unwrap_lines(text).is_empty());
    }

    #[test]
    fn a_declared_test_module_does_not_end_the_real_code() {
        let text = "#[cfg(test)]\nmod fixtures;\nfn real() { a.unwrap() }\n";
        assert_eq!(unwrap_lines(text), [3]);
    }

    #[test]
    fn the_allow_comment_needs_a_reason() {
        let text = "a.unwrap(); // tidy: allow(unwrap) a constant regex\n\
                    b.unwrap(); // tidy: allow(unwrap)\n\
                    // tidy: allow(unwrap) the literal is valid\n\
                    c.expect(\"valid\");\n\
                    d.unwrap();";
        assert_eq!(unwrap_lines(text), [2, 5]);
    }

    #[test]
    fn test_modules_resolve_beside_or_under_the_declaring_file() {
        let text = "#[cfg(test)]\nmod tests;\n#[cfg(test)]\npub(crate) mod testutil;\nmod real;\n";
        let got = test_modules(Path::new("c/src/media/mod.rs"), text);
        let want: Vec<PathBuf> = ["tests.rs", "tests", "testutil.rs", "testutil"]
            .iter()
            .map(|f| Path::new("c/src/media").join(f))
            .collect();
        assert_eq!(got, want);
        let got = test_modules(Path::new("c/src/packager.rs"), "#[cfg(test)]\nmod tests;\n");
        assert_eq!(got[0], Path::new("c/src/packager/tests.rs"));
    }

    #[test]
    fn test_paths_are_known_by_name_and_folder() {
        assert!(is_test_path("c/src/signal/sdp/tests.rs"));
        assert!(is_test_path("c/src/media/pipeline_tests.rs"));
        assert!(is_test_path("c/tests/common/mod.rs"));
        assert!(is_test_path("c/examples/load/main.rs"));
        assert!(!is_test_path("c/src/testutil.rs"));
        assert!(!is_test_path("c/src/contests.rs"));
    }

    #[test]
    fn long_files_are_reported_at_the_first_line_over() {
        let ok = "x\n".repeat(MAX_LINES);
        assert!(check_length("a.rs", &ok).is_none());
        let v = check_length("a.rs", &format!("{ok}y\n")).map(|v| (v.line, v.rule));
        assert_eq!(v, Some((MAX_LINES + 1, "file-length")));
    }

    #[test]
    fn the_docs_lint_must_be_in_the_crate_root() {
        assert!(check_docs_lint("lib.rs", "//! Crate.\n#![deny(missing_docs)]\n").is_none());
        assert!(check_docs_lint("lib.rs", "#![warn( missing_docs )]\n").is_none());
        assert!(check_docs_lint("lib.rs", "// #![deny(missing_docs)]\n").is_some());
        assert!(check_docs_lint("lib.rs", "#![forbid(unsafe_code)]\n").is_some());
    }
}
