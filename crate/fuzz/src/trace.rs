//! Calibration traces (`calibtrace.bin`, EWCT) for the pack target: real traces with header
//! fields, the parts digest, confidences, classes and labels set to edge values, truncated,
//! extended or re-sized; parsed and checked against the base manifest directly, or loaded in
//! their bundle with the manifest's sha256 fixed so that checking really happens at load.

use crate::rng::Rng;

pub const FILE: &str = "calibtrace.bin";
/// magic, version, count, exits, classes, 32-byte digest.
const HEADER: usize = 52;
const FIELDS: [&str; 5] = ["magic", "version", "count", "exits", "classes"];
const EDGE_U32: &[u32] = &[0, 1, 2, 3, 4, 9, 10, 11, 100, 1000, 5000, 10000, 65535, 65536, 1 << 24, (1 << 24) + 1, 1 << 31, u32::MAX];
const EDGE_F32: &[f32] = &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 1.0, 1.000_000_1, -1e-30, 2.0, f32::MAX, f32::MIN_POSITIVE];

fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Writes `v` at `at`, growing the bytes only inside the header (offsets computed from a
/// mutated header can be anywhere: a write past the end is skipped, not a 50 GB resize).
fn set(b: &mut Vec<u8>, at: usize, v: &[u8]) -> bool {
    let end = at.saturating_add(v.len());
    if end > b.len() {
        if end > HEADER {
            return false;
        }
        b.resize(end, 0);
    }
    b[at..end].copy_from_slice(v);
    true
}

/// The first `k` images of a real trace, a valid trace itself.
pub fn prefix(t: &[u8], k: usize) -> Vec<u8> {
    let (n, e) = (u32_at(t, 8) as usize, u32_at(t, 12) as usize);
    let k = k.min(n);
    let mut out = t[..HEADER].to_vec();
    set(&mut out, 8, &(k as u32).to_le_bytes());
    out.extend_from_slice(&t[HEADER..HEADER + 4 * k * e]);
    let class = HEADER + 4 * n * e;
    out.extend_from_slice(&t[class..class + 2 * k * e]);
    let labels = class + 2 * n * e;
    out.extend_from_slice(&t[labels..labels + 2 * k]);
    out
}

pub fn mutate_once(rng: &mut Rng, b: &mut Vec<u8>) -> String {
    let (n, e) = (u32_at(b, 8) as usize, u32_at(b, 12) as usize);
    let records = n.saturating_mul(e);
    match rng.below(9) {
        0..=2 => {
            let f = rng.range(1, 4);
            let old = u32_at(b, 4 * f);
            let v = if rng.chance(1, 3) { old.wrapping_add(rng.range(0, 4) as u32).wrapping_sub(2) } else { *rng.pick(EDGE_U32) };
            set(b, 4 * f, &v.to_le_bytes());
            format!("{} {old} -> {v}", FIELDS[f])
        }
        3 => {
            let i = 20 + rng.below(32);
            if i < b.len() {
                b[i] ^= 1 << rng.below(8);
            }
            format!("digest bit flip at {i}")
        }
        4 if records > 0 => {
            let i = rng.below(records.min(4096));
            let v = *rng.pick(EDGE_F32);
            if !set(b, HEADER + 4 * i, &v.to_le_bytes()) {
                return "confidence out of the bytes".into();
            }
            format!("confidence {i} = {v}")
        }
        5 if records > 0 => {
            let i = rng.below(records.min(4096));
            let v = *rng.pick(&[9u16, 10, 11, 100, u16::MAX, 0]);
            let at = HEADER.saturating_add(records.saturating_mul(4)).saturating_add(2 * i);
            if !set(b, at, &v.to_le_bytes()) {
                return "class out of the bytes".into();
            }
            format!("class {i} = {v}")
        }
        6 => {
            let k = *rng.pick(&[0usize, 1, 4, 20, 51, 52, 53]);
            let k = if rng.chance(1, 2) { k.min(b.len()) } else { b.len().saturating_sub(rng.range(1, 3)) };
            b.truncate(k);
            format!("truncated to {k} bytes")
        }
        7 => {
            let k = *rng.pick(&[1usize, 2, 6, 8, 12]);
            b.extend(std::iter::repeat_n(rng.below(256) as u8, k));
            format!("extended by {k} bytes")
        }
        _ => {
            // Count changed with the body re-sized to match: a well-formed trace of another size.
            let k = *rng.pick(&[1usize, 2, n.saturating_sub(1), n + 1]);
            match k.checked_mul(e).filter(|&r| r < 1 << 20 && k < 1 << 20) {
                Some(r) => {
                    b.truncate(HEADER);
                    b.resize(HEADER + 4 * r, 0);
                    b.extend(std::iter::repeat_n(0u8, 2 * r + 2 * k));
                    set(b, 8, &(k as u32).to_le_bytes());
                    format!("resized to {k} images")
                }
                None => "resize overflows".into(),
            }
        }
    }
}
