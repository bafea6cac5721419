//! Comparing moto's state dumps: where two differ, and "nothing changed".

use serde_json::Value;

/// The JSON paths where two moto states differ (at most 20).
pub fn json_diff(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
        use serde_json::Value::*;
        if out.len() >= 20 || a == b {
            return;
        }
        match (a, b) {
            (Object(x), Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    walk(
                        x.get(k).unwrap_or(&Null),
                        y.get(k).unwrap_or(&Null),
                        format!("{path}/{k}"),
                        out,
                    );
                }
            }
            (Array(x), Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{path}/{i}"), out);
                }
            }
            _ => {
                let short = |v: &Value| {
                    let s = v.to_string();
                    s.chars().take(200).collect::<std::string::String>()
                };
                out.push(format!("{path}: {} -> {}", short(a), short(b)));
            }
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// Asserts that moto's resources did not change.
pub fn assert_unchanged(before: &Value, after: &Value, what: &str) {
    let d = json_diff(before, after);
    assert!(
        d.is_empty(),
        "{what} changed moto's resources:\n{}",
        d.join("\n")
    );
}

/// Drops empty collections, so a backend moto creates lazily (with nothing
/// in it) does not count as a change.
pub fn prune(v: &mut Value) -> bool {
    use serde_json::Value::*;
    match v {
        Object(o) => {
            o.retain(|_, x| !prune(x));
            o.is_empty()
        }
        Array(a) => {
            for x in a.iter_mut() {
                prune(x);
            }
            a.is_empty()
        }
        Null => true,
        _ => false,
    }
}
