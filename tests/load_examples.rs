//! The shipped examples and the unit documentation must stay loadable and
//! complete: these tests fail when either rots.

use std::path::Path;

use vigil::graph::Graph;
use vigil::unit::schema::KEYS;
use vigil::unit::{load_dir, parse_unit, UnitKind};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_units_load_without_any_diagnostic() {
    let r = load_dir(&root().join("examples/units"));
    let shown: Vec<String> = r.diagnostics.iter().map(ToString::to_string).collect();
    assert!(shown.is_empty(), "{shown:#?}");
    let names: Vec<&str> = r.units.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec!["daemon", "default", "demo", "hello", "notifier", "setup", "ticker"]
    );
    assert_eq!(r.units["setup"].kind, UnitKind::Oneshot);
    assert_eq!(r.units["notifier"].kind, UnitKind::Notify);
    assert_eq!(r.units["daemon"].kind, UnitKind::Forking);
    assert_eq!(r.units["demo"].kind, UnitKind::Target);
    // Every example is started at boot, directly or through the demo target.
    let g = Graph::build(&r.units);
    assert_eq!(g.closure("default"), names);
    assert_eq!(
        g.start_after["hello"],
        vec![vigil::graph::Name::from("setup")]
    );
    assert_eq!(
        g.required_by["setup"],
        vec![vigil::graph::Name::from("ticker")]
    );
}

/// Splits docs/units.md into its ```toml blocks, each with the text that
/// follows it up to the next block (where an expected error is shown).
fn toml_blocks(doc: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("unterminated block");
        let after = &body[end + 3..];
        let next = after.find("```toml\n").unwrap_or(after.len());
        blocks.push((body[..end].to_string(), after[..next].to_string()));
        rest = after;
    }
    blocks
}

#[test]
fn docs_cover_every_key_and_their_examples_parse() {
    let doc = std::fs::read_to_string(root().join("docs/units.md")).unwrap();
    for key in KEYS {
        assert!(
            doc.contains(&format!("### `{key}`")),
            "docs/units.md has no section for `{key}`"
        );
    }
    let blocks = toml_blocks(&doc);
    assert!(
        blocks.len() > 10,
        "expected many examples, found {}",
        blocks.len()
    );
    for (text, after) in blocks {
        // A block documented as wrong is followed by a ```text block with the
        // exact diagnostics, whose first line names the file.
        let expected = after
            .split("```text\n")
            .nth(1)
            .and_then(|t| t.split("```").next())
            .filter(|t| t.contains(": error: "));
        if let Some(expected) = expected {
            let path = Path::new(expected.split(':').next().unwrap());
            let name = path.file_stem().unwrap().to_str().unwrap();
            let got: Vec<String> = parse_unit(name, path, &text)
                .expect_err(&format!("block should fail:\n{text}"))
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got.join("\n"), expected.trim_end(), "for block:\n{text}");
            continue;
        }
        // Key examples are fragments; give them what a unit needs to stand alone.
        let mut full = text.clone();
        let has_exec = full
            .lines()
            .any(|l| l.split('=').next().map(str::trim) == Some("exec"));
        if !has_exec && !full.contains("\"target\"") {
            full.push_str("exec = \"/bin/true\"\n");
        }
        if full.contains("pid_file") && !full.contains("forking") {
            full.push_str("type = \"forking\"\n");
        }
        if let Err(e) = parse_unit("example", Path::new("example.toml"), &full) {
            panic!("docs example does not parse:\n{full}\n{e:#?}");
        }
    }
}
