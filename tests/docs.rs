//! The README documents every issue code and every API route the code has.

use training_imports::domain::IssueCode;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_lists_every_issue_code() {
    let readme = readme();
    for code in IssueCode::ALL {
        assert!(readme.contains(&format!("| `{}` |", code.as_str())), "README's issue code table lacks {}", code.as_str());
    }
}

#[test]
fn readme_lists_every_api_route() {
    let readme = readme();
    for route in import_api::ROUTES.iter().filter(|r| !r.public) {
        let first_segment = route.pattern.split('/').nth(1).unwrap();
        assert!(readme.contains(&format!("/{first_segment}")), "README does not mention {} {}", route.method, route.pattern);
    }
}
