//! JSON trees with what `serde_json::Value` cannot hold: duplicate keys (a key written
//! `"k\u{0}…"` is written as `"k"`) and raw tokens (a string `"\u{0}raw:1e400"` is written as
//! `1e400`), so manifests can carry what a hostile file carries.

use serde_json::Value;

pub const RAW: &str = "\u{0}raw:";

pub fn raw(token: &str) -> Value {
    Value::String(format!("{RAW}{token}"))
}

pub fn write(v: &Value, out: &mut String) {
    match v {
        Value::String(s) if s.starts_with(RAW) => out.push_str(&s[RAW.len()..]),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let k = k.split('\u{0}').next().unwrap_or_default();
                out.push_str(&Value::String(k.to_string()).to_string());
                out.push(':');
                write(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn to_string(v: &Value) -> String {
    let mut s = String::new();
    write(v, &mut s);
    s
}

/// One step of a path into a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Every node's path, the root's (empty) first.
pub fn paths(v: &Value) -> Vec<Vec<Seg>> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), v)];
    while let Some((p, v)) = stack.pop() {
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let mut q = p.clone();
                    q.push(Seg::Index(i));
                    stack.push((q, x));
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    let mut q = p.clone();
                    q.push(Seg::Key(k.clone()));
                    stack.push((q, x));
                }
            }
            _ => {}
        }
        out.push(p);
    }
    out
}

pub fn get_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.as_object_mut()?.get_mut(k),
        Seg::Index(i) => v.as_array_mut()?.get_mut(*i),
    })
}

pub fn get<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, s| match s {
        Seg::Key(k) => v.as_object()?.get(k),
        Seg::Index(i) => v.as_array()?.get(*i),
    })
}

/// Removes the node at `path` (not the root).
pub fn remove(v: &mut Value, path: &[Seg]) -> Option<Value> {
    let (last, parent) = path.split_last()?;
    match (get_mut(v, parent)?, last) {
        (Value::Object(m), Seg::Key(k)) => m.remove(k),
        (Value::Array(a), Seg::Index(i)) if *i < a.len() => Some(a.remove(*i)),
        _ => None,
    }
}

/// Every string in the tree (keys and values): the vocabulary of a manifest.
pub fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_raw_tokens() {
        let v = serde_json::json!({"a": 1, "a\u{0}1": [2, raw("1e400")]});
        assert_eq!(to_string(&v), r#"{"a":1,"a":[2,1e400]}"#);
    }
}
