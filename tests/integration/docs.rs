//! The README documents every issue code and every API route the code has.

use training_imports::domain::IssueCode;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn readme_lists_every_issue_code() {
    let readme = readme();
    for code in IssueCode::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", code.as_str())),
            "README's issue code table lacks {}",
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
fn readme_lists_every_api_route() {
    let readme = readme();
    // Every "`METHOD /path`" written in the README, parameters normalised.
    let documented: Vec<String> = readme
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
            "README's API table does not list {wanted}"
        );
    }
}
