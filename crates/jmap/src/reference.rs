//! Back-references between method calls of one request (RFC 8620 §3.7):
//! an argument `#name` holding a ResultReference is replaced by the value
//! its JSON Pointer (RFC 6901, plus JMAP's `*` for "every item of an
//! array", flattened) selects in an earlier response.

use serde_json::{Map, Value};

use crate::error::MethodError;
use crate::request::ResultReference;

/// Replaces every `#key` argument of `args` by the value it references in
/// `responses` (name, arguments, call id), as `key`.
pub fn resolve(
    args: Map<String, Value>,
    responses: &[(String, Value, String)],
) -> Result<Map<String, Value>, MethodError> {
    if !args.keys().any(|k| k.starts_with('#')) {
        return Ok(args);
    }
    let mut out = Map::new();
    let plain: Vec<String> = args
        .keys()
        .filter(|k| !k.starts_with('#'))
        .cloned()
        .collect();
    for (key, value) in args {
        let Some(name) = key.strip_prefix('#') else {
            out.insert(key, value);
            continue;
        };
        // §3.7: both `foo` and `#foo` is an invalidArguments error.
        if plain.iter().any(|p| p == name) {
            return Err(MethodError::InvalidArguments(format!(
                "both {name} and #{name} given"
            )));
        }
        let reference: ResultReference = serde_json::from_value(value).map_err(|e| {
            MethodError::InvalidResultReference(format!("#{name} is not a ResultReference: {e}"))
        })?;
        let (response_name, arguments, _) = responses
            .iter()
            .find(|(_, _, id)| *id == reference.result_of)
            .ok_or_else(|| {
                MethodError::InvalidResultReference(format!(
                    "no earlier response with call id {:?}",
                    reference.result_of
                ))
            })?;
        if *response_name != reference.name {
            return Err(MethodError::InvalidResultReference(format!(
                "call {:?} answered {response_name}, not {}",
                reference.result_of, reference.name
            )));
        }
        let value = pointer(arguments, &reference.path).ok_or_else(|| {
            MethodError::InvalidResultReference(format!(
                "path {:?} does not resolve in {response_name}",
                reference.path
            ))
        })?;
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

/// Evaluates a JMAP JSON Pointer: RFC 6901 with `*` mapping over an array
/// (flattening arrays of arrays), RFC 8620 §3.7.
pub fn pointer(value: &Value, path: &str) -> Option<Value> {
    if path.is_empty() {
        return Some(value.clone());
    }
    let rest = path.strip_prefix('/')?;
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    walk(value, &tokens)
}

fn walk(value: &Value, tokens: &[String]) -> Option<Value> {
    let Some((token, rest)) = tokens.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Array(items) if token == "*" => {
            let mut out = Vec::new();
            for item in items {
                match walk(item, rest)? {
                    Value::Array(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Some(Value::Array(out))
        }
        Value::Array(items) => {
            // RFC 6901 §4: an index is digits without a leading zero.
            if token.is_empty()
                || !token.bytes().all(|b| b.is_ascii_digit())
                || (token.len() > 1 && token.starts_with('0'))
            {
                return None;
            }
            walk(items.get(token.parse::<usize>().ok()?)?, rest)
        }
        Value::Object(map) => walk(map.get(token)?, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example of RFC 8620 §3.7: `/list/*/threadId` over a /get
    /// response, then `/*/emailIds` flattening.
    #[test]
    fn rfc_8620_example_paths() {
        let get = json!({"list": [{"id": "M1", "threadId": "T1"}, {"id": "M2", "threadId": "T2"}]});
        assert_eq!(pointer(&get, "/list/*/threadId"), Some(json!(["T1", "T2"])));
        let threads = json!({"list": [{"emailIds": ["M1", "M3"]}, {"emailIds": ["M2"]}]});
        assert_eq!(
            pointer(&threads, "/list/*/emailIds"),
            Some(json!(["M1", "M3", "M2"]))
        );
        assert_eq!(pointer(&get, "/list/1/id"), Some(json!("M2")));
        assert_eq!(pointer(&get, "/list/01/id"), None);
        assert_eq!(pointer(&get, "/nope"), None);
        assert_eq!(
            pointer(&json!({"a/b": 1, "c~d": 2}), "/a~1b"),
            Some(json!(1))
        );
        assert_eq!(
            pointer(&json!({"a/b": 1, "c~d": 2}), "/c~0d"),
            Some(json!(2))
        );
    }

    #[test]
    fn resolve_checks_name_and_call_id() {
        let responses = vec![(
            "Email/query".to_string(),
            json!({"ids": ["M1"]}),
            "0".to_string(),
        )];
        let args = json!({"#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"}});
        let out = resolve(args.as_object().unwrap().clone(), &responses).unwrap();
        assert_eq!(out["ids"], json!(["M1"]));
        let wrong = json!({"#ids": {"resultOf": "0", "name": "Email/get", "path": "/ids"}});
        assert!(matches!(
            resolve(wrong.as_object().unwrap().clone(), &responses),
            Err(MethodError::InvalidResultReference(_))
        ));
        let both =
            json!({"ids": [], "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"}});
        assert!(matches!(
            resolve(both.as_object().unwrap().clone(), &responses),
            Err(MethodError::InvalidArguments(_))
        ));
    }
}
