//! The memory estimate: every constant (initialisers and what tract folds at load) stays for
//! the part's life; activations live from the node that makes them to their last reader, and a
//! node's scratch (im2col) while it runs. The peak of their sum is checked against the budget.

use super::value::Val;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::GraphProto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub constant_bytes: u64,
    /// The most activation (and scratch) bytes alive at once, at batch 1.
    pub activation_bytes: u64,
    /// The node index where that peak is reached.
    pub peak_node: Option<usize>,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.constant_bytes.saturating_add(self.activation_bytes)
    }
}

pub fn estimate(g: &GraphProto, order: &[usize], vals: &HashMap<&str, Val>, scratch: &[u64]) -> Estimate {
    let bytes = |name: &str| vals.get(name).filter(|v| !v.konst).map_or(0, Val::bytes);
    let constant_bytes = vals.values().filter(|v| v.konst).fold(0u64, |a, v| a.saturating_add(v.bytes()));
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (pos, &i) in order.iter().enumerate() {
        for name in &g.node[i].input {
            last_use.insert(name, pos);
        }
    }
    for o in &g.output {
        last_use.insert(&o.name, usize::MAX);
    }
    let mut live: HashSet<&str> = g.input.iter().map(|v| v.name.as_str()).filter(|n| bytes(n) > 0).collect();
    let mut now = live.iter().fold(0u64, |a, n| a.saturating_add(bytes(n)));
    let mut e = Estimate { constant_bytes, activation_bytes: now, peak_node: None };
    for (pos, &i) in order.iter().enumerate() {
        let node = &g.node[i];
        for o in &node.output {
            if bytes(o) > 0 && live.insert(o) {
                now = now.saturating_add(bytes(o));
            }
        }
        let at = now.saturating_add(scratch.get(i).copied().unwrap_or(0));
        if at > e.activation_bytes {
            e.activation_bytes = at;
            e.peak_node = Some(i);
        }
        for name in node.input.iter().chain(&node.output) {
            let done = last_use.get(name.as_str()).is_none_or(|&p| p == pos);
            if done && live.remove(name.as_str()) {
                now = now.saturating_sub(bytes(name));
            }
        }
    }
    e
}
