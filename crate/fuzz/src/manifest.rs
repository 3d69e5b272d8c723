//! Manifest target: structural mutations of a real `manifest.json`; the real part and data
//! files stay, nothing is recomputed (hashes included).

use crate::case::{Case, Run, Target};
use crate::json::{self, raw, Seg};
use crate::rng::Rng;
use serde_json::{json, Value};

/// Names a hostile manifest might use.
pub const ODD_STRINGS: &[&str] = &[
    "", " ", ".", "..", "../x", "../../etc/passwd", "/etc/passwd", "/", "C:\\x", "a/b.onnx", "a\\b.onnx", "%2e%2e",
    "seg0.onnx?x=1", "seg0.onnx#f", ".hidden", "manifest.json", "MANIFEST.JSON", "seg0.onnx", "seg1.onnx", "exit0.onnx",
    "final.onnx", "full.onnx", "testpack.bin", "calibpack.bin", "reference.bin", "operating-points.json", "SEG0.ONNX",
    "seg0.onnx ", "input", "a0", "a1", "a2", "logits", "e0_logits", "e0_feat", "learned", "entropy", "max_softmax",
    "exitwise/1", "exitwise/2", "exitwise/1\u{0}", "f32", "f16", "u8", "NCHW", "NHWC", "é.onnx", "\u{202e}xnno.0ges",
    "名前", "🙂", "a\u{0}b", "\u{feff}seg0.onnx", "\u{fffd}", "NaN", "Infinity", "-0", "1e400", "true", "null",
    "https://example.com/p.bin", "file:///etc/passwd",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
];

/// Edge numbers, as JSON tokens.
pub const ODD_NUMBERS: &[&str] = &[
    "0", "-1", "1", "2", "3", "-0", "0.5", "-0.5", "1.5", "0.999999", "1.0000001", "28", "29", "64", "65", "4096",
    "4097", "2147483647", "2147483648", "4294967295", "4294967296", "9007199254740993", "18446744073709551615",
    "18446744073709551616", "-9223372036854775808", "1e308", "-1e308", "1e400", "-1e400", "1e-45", "1e-400",
    "3.4028235e38", "3.5e38", "16777216", "16777217", "100000000000000000000000000000",
];

fn odd_value(rng: &mut Rng, vocab: &[String], original: &Value) -> Value {
    match rng.below(12) {
        0..=3 => raw(rng.pick::<&str>(ODD_NUMBERS)),
        4..=6 => Value::String(rng.pick(ODD_STRINGS).to_string()),
        7 if !vocab.is_empty() => Value::String(rng.pick(vocab).clone()),
        8 => Value::String("x".repeat(*rng.pick(&[127usize, 128, 129, 4096]))),
        9 => match rng.below(5) {
            0 => Value::Null,
            1 => Value::Bool(rng.chance(1, 2)),
            2 => json!([]),
            3 => json!({}),
            _ => json!([original.clone()]),
        },
        10 => json!({ "file": original.clone(), "sha256": original.clone() }),
        _ => raw(&format!("{}{}", "[".repeat(200), "]".repeat(200))),
    }
}

fn show(p: &[Seg]) -> String {
    p.iter()
        .map(|s| match s {
            Seg::Key(k) => format!(".{}", k.replace('\u{0}', "~")),
            Seg::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// The paths worth mutating: every node but the root, with long lists (a hundred labels)
/// thinned to their first entries and their last, so that they do not drown the rest.
fn candidates(v: &Value) -> Vec<Vec<Seg>> {
    json::paths(v)
        .into_iter()
        .filter(|p| !p.is_empty())
        .filter(|p| match p.last() {
            Some(Seg::Index(i)) if *i >= 3 => {
                let len = json::get(v, &p[..p.len() - 1]).and_then(Value::as_array).map_or(0, Vec::len);
                *i + 1 == len
            }
            _ => true,
        })
        .collect()
}

/// One structural mutation of `v`; returns its description.
fn mutate_once(rng: &mut Rng, v: &mut Value, vocab: &[String]) -> String {
    let paths = candidates(v);
    let of = |f: &dyn Fn(&[Seg], &Value) -> bool| -> Vec<Vec<Seg>> {
        paths.iter().filter(|p| json::get(v, p).is_some_and(|x| f(p, x))).cloned().collect()
    };
    let arrays = of(&|_, x| x.as_array().is_some_and(|a| !a.is_empty()));
    let keyed = of(&|p, _| matches!(p.last(), Some(Seg::Key(_))));
    let objects = of(&|_, x| x.is_object());
    let scalars = of(&|_, x| !x.is_array() && !x.is_object());
    let path = rng.pick(&paths).clone();
    match rng.weighted(&[10, 8, 6, 10, 14, 6, 14, 3, 5]) {
        0 => {
            json::remove(v, &path);
            format!("delete {}", show(&path))
        }
        1 => {
            // Duplicate an array entry.
            let target = rng.pick(&arrays).clone();
            let Some(Value::Array(a)) = json::get_mut(v, &target) else { unreachable!("an array") };
            let x = a[rng.below(a.len())].clone();
            let at = rng.below(a.len() + 1);
            a.insert(at, x);
            format!("duplicate an entry of {} at {at}", show(&target))
        }
        2 => {
            // Duplicate a key (written twice in the text), with the same or an odd value.
            let path = rng.pick(&keyed).clone();
            let Some(Seg::Key(k)) = path.last() else { unreachable!("keyed") };
            let orig = json::get(v, &path).cloned().unwrap_or(Value::Null);
            let dup = if rng.chance(1, 2) { orig.clone() } else { odd_value(rng, vocab, &orig) };
            let key = format!("{k}\u{0}{}", rng.next_u64());
            if let Some(Value::Object(m)) = json::get_mut(v, &path[..path.len() - 1]) {
                m.insert(key, dup);
            }
            format!("duplicate key {}", show(&path))
        }
        3 | 4 => {
            let path = if rng.chance(3, 4) { rng.pick(&scalars).clone() } else { path };
            let orig = json::get(v, &path).cloned().unwrap_or(Value::Null);
            let new = match (&orig, rng.chance(2, 3)) {
                (Value::Number(_), true) => raw(rng.pick::<&str>(ODD_NUMBERS)),
                (Value::String(_), true) => Value::String(rng.pick(ODD_STRINGS).to_string()),
                _ => odd_value(rng, vocab, &orig),
            };
            let d = format!("{} = {}", show(&path), json::to_string(&new).chars().take(60).collect::<String>());
            if let Some(x) = json::get_mut(v, &path) {
                *x = new;
            }
            d
        }
        5 => {
            // Swap two entries of an array (reorder segments, exits, inputs, shape).
            let long = of(&|_, x| x.as_array().is_some_and(|a| a.len() >= 2));
            if long.is_empty() {
                return "nothing to swap".into();
            }
            let target = rng.pick(&long).clone();
            let Some(Value::Array(a)) = json::get_mut(v, &target) else { unreachable!("an array") };
            let i = rng.below(a.len());
            let j = (i + rng.range(1, a.len() - 1)) % a.len();
            a.swap(i, j);
            format!("swap {}[{i}] and [{j}]", show(&target))
        }
        6 => {
            // Splice: copy another node here (a segment's outputs into an exit's inputs, one
            // part's file and hash into another, …).
            let from = rng.pick(&paths).clone();
            let x = json::get(v, &from).cloned().unwrap_or(Value::Null);
            if let Some(y) = json::get_mut(v, &path) {
                *y = x;
            }
            format!("{} = copy of {}", show(&path), show(&from))
        }
        7 => {
            let parent = rng.pick(&objects).clone();
            let key = rng.pick(&["confidence", "threshold", "after", "reference", "test_pack", "extra", "__proto__", "file"]);
            let x = odd_value(rng, vocab, &Value::Null);
            if let Some(Value::Object(m)) = json::get_mut(v, &parent) {
                m.insert(key.to_string(), x);
            }
            format!("add key {key} to {}", show(&parent))
        }
        _ => {
            // Grow a list to many entries (labels, shape, mean, segments, inputs).
            let target = rng.pick(&arrays).clone();
            let n = *rng.pick(&[1usize, 3, 17, 256, 257, 5000]);
            let Some(Value::Array(a)) = json::get_mut(v, &target) else { unreachable!("an array") };
            let x = a[rng.below(a.len())].clone();
            a.extend(std::iter::repeat_n(x, n));
            format!("append {n} copies to {}", show(&target))
        }
    }
}

/// How many mutations a case stacks.
pub fn stack_depth(rng: &mut Rng) -> usize {
    match rng.below(8) {
        0..=3 => 1,
        4 | 5 => 2,
        _ => rng.range(3, 6),
    }
}

pub fn generate(rng: &mut Rng, bases: &crate::case::Bases) -> Case {
    let base = crate::case::BUNDLES[rng.weighted(&[5, 2, 1, 2])];
    let manifest = &bases.get(base)["manifest.json"];
    let mut v: Value = serde_json::from_slice(manifest).expect("a real manifest parses");
    let mut vocab = Vec::new();
    json::strings(&v, &mut vocab);
    let mut notes = Vec::new();
    for _ in 0..stack_depth(rng) {
        notes.push(mutate_once(rng, &mut v, &vocab));
    }
    let mut text = json::to_string(&v).into_bytes();
    // Now and then the text itself: truncated, a byte changed, a BOM, trailing junk.
    if rng.chance(1, 16) {
        match rng.below(4) {
            0 => {
                let n = rng.below(text.len() + 1);
                text.truncate(n);
                notes.push(format!("text truncated to {n} bytes"));
            }
            1 => {
                let i = rng.below(text.len());
                text[i] = *rng.pick(&[0u8, b'"', b'{', b'}', b'\\', 0xff, 0xc3, b'\n']);
                notes.push(format!("text byte {i} replaced"));
            }
            2 => {
                text.splice(0..0, [0xef, 0xbb, 0xbf]);
                notes.push("text with a BOM".into());
            }
            _ => {
                text.extend_from_slice(b" {}");
                notes.push("trailing junk".into());
            }
        }
    }
    Case {
        target: Target::Manifest,
        base: base.to_string(),
        run: Run::Bundle,
        set: [("manifest.json".to_string(), text)].into(),
        drop: Default::default(),
        note: notes.join("; "),
        origin: None,
    }
}
