//! Pack target: real `testpack.bin` / `calibpack.bin` bytes (and calibration traces,
//! [`crate::trace`]) with header fields set to edge
//! values, truncated, extended or re-sized; parsed directly (`Pack::parse`) or loaded in their
//! bundle with the manifest's sha256 fixed so that parsing really happens at load.

use crate::case::{Case, Run, Target};
use crate::rng::Rng;
use crate::trace;
use exitwise::bundle::sha256_hex;
use serde_json::Value;

const FIELDS: [&str; 6] = ["magic", "version", "count", "channels", "height", "width"];
const HEADER: usize = 24;

const EDGE_U32: &[u32] = &[
    0, 1, 2, 3, 4, 10, 27, 28, 29, 31, 32, 33, 64, 255, 256, 1000, 1001, 4096, 65535, 65536, 1 << 20, 1 << 24,
    (1 << 31) - 1, 1 << 31, u32::MAX - 1, u32::MAX,
];

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn set_u32(b: &mut Vec<u8>, at: usize, v: u32) {
    if b.len() < at + 4 {
        b.resize(at + 4, 0);
    }
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The first `k` images of a real pack, a valid pack itself.
pub fn prefix(pack: &[u8], k: usize) -> Vec<u8> {
    let n = u32_at(pack, 8) as usize;
    let img = (u32_at(pack, 12) * u32_at(pack, 16) * u32_at(pack, 20)) as usize;
    let k = k.min(n);
    let mut out = pack[..HEADER].to_vec();
    set_u32(&mut out, 8, k as u32);
    out.extend_from_slice(&pack[HEADER..HEADER + k * img]);
    out.extend_from_slice(&pack[HEADER + n * img..HEADER + n * img + k]);
    out
}

fn mutate_once(rng: &mut Rng, b: &mut Vec<u8>, classes: usize) -> String {
    match rng.below(9) {
        0..=2 => {
            let f = rng.range(1, 5);
            let old = if b.len() >= HEADER { u32_at(b, 4 * f) } else { 0 };
            let v = match rng.below(3) {
                0 => old.wrapping_add(rng.range(0, 4) as u32).wrapping_sub(2),
                _ => *rng.pick(EDGE_U32),
            };
            set_u32(b, 4 * f, v);
            format!("{} {old} -> {v}", FIELDS[f])
        }
        3 => {
            // The same pixel count in another shape (c·h·w kept): it parses, then must not fit.
            if b.len() < HEADER {
                return "too short to reshape".into();
            }
            let (c, h, w) = (u32_at(b, 12), u32_at(b, 16), u32_at(b, 20));
            let (c2, h2, w2) = *rng.pick(&[(h, c, w), (c, w, h), (c.wrapping_mul(h), 1, w), (1, 1, c.wrapping_mul(h).wrapping_mul(w)), (c.wrapping_mul(h).wrapping_mul(w), 1, 1), (w, h, c)]);
            set_u32(b, 12, c2);
            set_u32(b, 16, h2);
            set_u32(b, 20, w2);
            format!("shape {c}x{h}x{w} -> {c2}x{h2}x{w2}")
        }
        4 => {
            let n = *rng.pick(&[0, 1, 3, 4, 7, 8, 12, 16, 20, 23, 24, 25]);
            let n = if rng.chance(1, 2) { n.min(b.len()) } else { b.len().saturating_sub(rng.range(1, 3)) };
            b.truncate(n);
            format!("truncated to {n} bytes")
        }
        5 => {
            let n = *rng.pick(&[1usize, 3, 4, 28 * 28, 28 * 28 + 1, 3 * 32 * 32 + 1]);
            let fill = rng.below(256) as u8;
            b.extend(std::iter::repeat_n(fill, n));
            format!("extended by {n} bytes of {fill}")
        }
        6 => {
            // A label out of the classes (or at the edge).
            let n = b.len();
            if n > HEADER {
                let i = n - 1 - rng.below((n - HEADER).min(16));
                let v = *rng.pick(&[classes as u8, (classes as u8).wrapping_sub(1), 255, 0, 128]);
                b[i] = v;
                return format!("byte {i} (a label) = {v}");
            }
            "no label to change".into()
        }
        7 => {
            // Count changed with the body re-sized to match: a valid pack of another size.
            if b.len() < HEADER {
                return "too short to resize".into();
            }
            let (n, img) = (u32_at(b, 8) as usize, (u32_at(b, 12) as usize).saturating_mul(u32_at(b, 16) as usize).saturating_mul(u32_at(b, 20) as usize));
            let k = *rng.pick(&[0usize, 1, 2, n.saturating_sub(1), n + 1]);
            // Bounded in pixels and in labels (a zero-pixel shape with a count of 2^31 asked the
            // generator for 2 GiB of labels).
            match img.checked_mul(k).filter(|&s| s < 1 << 24 && k < 1 << 20) {
                Some(size) => {
                    let labels: Vec<u8> = (0..k).map(|i| (i % classes) as u8).collect();
                    b.truncate(HEADER);
                    b.resize(HEADER + size, 128);
                    b.extend(labels);
                    set_u32(b, 8, k as u32);
                    format!("resized to {k} images")
                }
                None => "resize overflows".into(),
            }
        }
        _ => {
            let i = rng.below(b.len().clamp(1, HEADER));
            if i < b.len() {
                b[i] ^= 1 << rng.below(8);
            }
            format!("header bit flip at {i}")
        }
    }
}

pub fn generate(rng: &mut Rng, bases: &crate::case::Bases) -> Case {
    let base = *rng.pick(&["tiny-mnist", "resnet-fmnist", "mobilenet-random"]);
    let files = bases.get(base);
    let choices: &[&str] = if files.contains_key(trace::FILE) {
        &["testpack.bin", "calibpack.bin", trace::FILE]
    } else {
        &["testpack.bin", "calibpack.bin"]
    };
    let file = *rng.pick(choices);
    let is_trace = file == trace::FILE;
    let mut notes = vec![format!("{file}")];
    let real = &files[file];
    let mut b = if rng.chance(2, 3) {
        let k = *rng.pick(&[1usize, 2, 3, 8, 16]);
        notes.push(format!("first {k} images"));
        if is_trace { trace::prefix(real, k) } else { prefix(real, k) }
    } else {
        real.clone()
    };
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("a real manifest parses");
    let classes = manifest["labels"].as_array().map_or(10, |l| l.len());
    // A resized valid pack is itself worth loading now and then: no further mutation.
    let depth = if rng.chance(1, 10) { 0 } else { crate::manifest::stack_depth(rng) };
    for _ in 0..depth {
        notes.push(if is_trace { trace::mutate_once(rng, &mut b) } else { mutate_once(rng, &mut b, classes) });
    }
    if rng.chance(1, 2) {
        return Case {
            target: Target::Pack,
            base: base.to_string(),
            run: Run::ParsePack(file.to_string()),
            set: [(file.to_string(), b)].into(),
            drop: files.keys().filter(|k| k.as_str() != file).cloned().collect(),
            note: notes.join("; "),
            origin: None,
        };
    }
    // Through the bundle: fix the hash; without the reference outputs now and then (their
    // count must match the test pack's).
    let mut m = manifest;
    let key = match file {
        "testpack.bin" => "test_pack",
        "calibpack.bin" => "calibration_pack",
        _ => "calibration_trace",
    };
    m[key]["sha256"] = Value::String(sha256_hex(&b));
    let mut drop = std::collections::BTreeSet::new();
    if rng.chance(1, 2) {
        m.as_object_mut().map(|o| o.remove("reference"));
        drop.insert("reference.bin".to_string());
        notes.push("reference removed".into());
    }
    Case {
        target: Target::Pack,
        base: base.to_string(),
        run: Run::Bundle,
        set: [(file.to_string(), b), ("manifest.json".to_string(), serde_json::to_vec_pretty(&m).unwrap_or_default())].into(),
        drop,
        note: notes.join("; "),
        origin: None,
    }
}
