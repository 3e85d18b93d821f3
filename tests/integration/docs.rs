//! The docs and the code in step: every issue code and every API route the code has is
//! documented, every link between the docs leads somewhere, every test the invariants
//! table names exists, and the README stays a front door.

use training_imports::domain::IssueCode;

fn read(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The README and every Markdown file under docs/, with their paths.
fn markdown_files() -> Vec<(String, String)> {
    let mut files = vec![("README.md".to_string(), read("README.md"))];
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    for entry in std::fs::read_dir(docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            files.push((name.clone(), read(&name)));
        }
    }
    files
}

#[test]
fn the_issue_codes_doc_lists_every_issue_code() {
    let doc = read("docs/issue-codes.md");
    for code in IssueCode::ALL {
        assert!(
            doc.contains(&format!("| `{}` |", code.as_str())),
            "docs/issue-codes.md's table lacks {}",
            code.as_str()
        );
    }
}

/// "GET /imports/{import_id}/rows" and "GET /imports/{id}/rows" are the same route.
fn normalise_route(route: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in route.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn the_api_doc_lists_every_api_route() {
    let doc = read("docs/api.md");
    // Every "`METHOD /path`" written in the doc, parameters normalised.
    let documented: Vec<String> = doc
        .split('`')
        .filter(|t| {
            t.split_once(' ').is_some_and(|(m, p)| {
                ["GET", "POST", "PATCH", "DELETE"].contains(&m) && p.starts_with('/')
            })
        })
        .map(normalise_route)
        .collect();
    for route in import_api::ROUTES {
        let wanted = normalise_route(&format!("{} {}", route.method, route.pattern));
        assert!(
            documented.contains(&wanted),
            "docs/api.md's route table does not list {wanted}"
        );
    }
}

/// Every relative link of the README and the docs (`[text](path)`, images too) names a
/// file that exists, relative to the file that links.
#[test]
fn every_link_between_the_docs_leads_to_a_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (name, text) in markdown_files() {
        let dir = root.join(&name).parent().unwrap().to_path_buf();
        for part in text.split("](").skip(1) {
            let target = part.split(')').next().unwrap().split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            assert!(
                dir.join(target).exists(),
                "{name} links to {target}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "only {checked} links found: is the parsing right?"
    );
}

/// Each test the invariants table names is a test function of the suite, and each test
/// file it names exists.
#[test]
fn every_test_the_invariants_table_names_exists() {
    let doc = read("docs/invariants.md");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tests = String::new();
    for entry in std::fs::read_dir(root.join("tests/integration")).unwrap() {
        tests.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut named = 0;
    for row in doc.lines().filter(|l| l.starts_with("| ")).skip(2) {
        let test_cell = row.split('|').nth(2).unwrap_or_default();
        for token in test_cell.split('`').skip(1).step_by(2) {
            if token.ends_with(".rs") {
                assert!(
                    root.join(token).exists(),
                    "docs/invariants.md names {token}"
                );
            } else if token.matches('_').count() >= 3 && !token.contains(' ') {
                // `the_validator_/the_commit_/...` names several tests by their shared parts.
                for part in token.split('/').filter(|p| p.len() > 3) {
                    assert!(
                        tests.contains(&format!("fn {part}")) || tests.contains(part),
                        "docs/invariants.md names the test {part}, which the suite lacks"
                    );
                }
                named += 1;
            }
        }
    }
    assert!(
        named >= 20,
        "only {named} tests named: is the parsing right?"
    );
}

/// The README is the front door: what it is, the two commands, the page, deploying, and
/// links; the reference lives under docs/.
#[test]
fn the_readme_stays_short_and_gives_the_two_commands() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines");
    assert!(readme.contains("scripts/local-stack") && readme.contains("scripts/test"));
    let ci = read(".ci/run");
    assert!(
        ci.contains("scripts/test") && ci.contains("scripts/local-stack --ci"),
        ".ci/run must run the README's commands"
    );
}

#[test]
fn the_api_description_names_every_field_of_an_import_summary() {
    use training_imports::domain::{ImportId, MatchMethod, OrgId};
    use training_imports::store::{ImportOptions, ImportSummary};
    let openapi: serde_json::Value = serde_json::from_str(&read("docs/openapi.json")).unwrap();
    let described = &openapi["components"]["schemas"]["ImportSummary"]["properties"];
    let summary = ImportSummary::new(
        &OrgId::parse("acme").unwrap(),
        &ImportId::parse("abc").unwrap(),
        MatchMethod::Email,
        "file.csv",
        "paste",
        "uploads/acme/abc/source.csv",
        ImportOptions::default(),
    );
    let fields = serde_json::to_value(&summary).unwrap();
    let missing: Vec<&String> = fields
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| described.get(k.as_str()).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "docs/openapi.json's ImportSummary lacks {missing:?}"
    );
}
