//! Calibration traces (`EWCT`): per image, every exit's confidence and predicted class, plus the
//! label — all calibration needs, without pixels, so a bundle can ship one over a whole
//! validation split (10,000 images in ~130 KB for three exits) and the browser calibrates from
//! it in milliseconds. The format is in `BUNDLE.md`; the runtime itself writes it
//! (`exitwise trace`).
//!
//! A trace is bound to the parts and rules that made it by a digest ([`parts_digest`]): a
//! bundle whose segments, heads, rules or input normalisation changed rejects its old trace at
//! load instead of calibrating on numbers another network produced.

use crate::error::{err, ErrorCode, Result};
use crate::manifest::Manifest;
use crate::Trace;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"EWCT";
const VERSION: u32 = 1;
/// Header: magic, version, count, exits, classes, digest.
const HEADER: usize = 4 + 4 * 4 + 32;
/// Most images a trace may hold (bounds what a crafted header can make the loader allocate).
pub const MAX_IMAGES: usize = 1 << 24;

/// A parsed, validated calibration trace.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationTrace {
    pub count: usize,
    pub exits: usize,
    pub classes: usize,
    pub digest: [u8; 32],
    /// `[count × exits]`, image-major: confidence in [0, 1].
    pub confidence: Vec<f32>,
    /// `[count × exits]`, image-major: the exit's predicted class.
    pub class: Vec<u16>,
    /// `[count]`.
    pub labels: Vec<u16>,
}

/// SHA-256 over what determines every exit's confidence and class: the input normalisation,
/// each part's file hash and wiring, each exit's rule and named outputs, in manifest order
/// (not names, descriptions or default thresholds).
pub fn parts_digest(m: &Manifest) -> [u8; 32] {
    let mut h = Sha256::new();
    let i = &m.input;
    h.update(format!("input {:?} {:?} {:?} {:?}\n", i.shape, i.range, i.mean, i.std));
    for s in &m.segments {
        h.update(format!("segment {} {:?} {:?}\n", s.sha256.to_ascii_lowercase(), s.inputs, s.outputs));
    }
    for x in &m.exits {
        let rule = serde_json::to_string(&x.rule).unwrap_or_default();
        h.update(format!(
            "exit {} {} {:?} {:?} {rule} {:?} {:?}\n",
            x.sha256.to_ascii_lowercase(), x.after, x.inputs, x.outputs, x.logits, x.confidence
        ));
    }
    h.update(format!("classes {}\n", m.classes()));
    h.finalize().into()
}

fn bad<T>(name: &str, what: impl std::fmt::Display) -> Result<T> {
    err(ErrorCode::BadPack, format!("{name}: {what}"))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

impl CalibrationTrace {
    /// The trace of labelled images from the runtime's own [`Trace`]s.
    pub fn from_traces(m: &Manifest, traces: &[Trace], labels: &[u8]) -> Result<CalibrationTrace> {
        let (exits, classes) = (m.exits.len(), m.classes());
        if traces.len() != labels.len() || traces.is_empty() || traces.len() > MAX_IMAGES {
            return err(ErrorCode::BadInput, format!("{} traces for {} labels (need the same, 1 to {MAX_IMAGES})", traces.len(), labels.len()));
        }
        let mut t = CalibrationTrace {
            count: traces.len(),
            exits,
            classes,
            digest: parts_digest(m),
            confidence: Vec::with_capacity(traces.len() * exits),
            class: Vec::with_capacity(traces.len() * exits),
            labels: labels.iter().map(|&l| u16::from(l)).collect(),
        };
        for tr in traces {
            if tr.exits.len() != exits {
                return err(ErrorCode::BadInput, format!("a trace has {} exits, the model {exits}", tr.exits.len()));
            }
            for o in &tr.exits {
                t.confidence.push(o.confidence);
                t.class.push(u16::try_from(o.class).unwrap_or(u16::MAX));
            }
        }
        t.check("trace", m)?;
        Ok(t)
    }

    /// Parses `bytes` (no model needed; [`CalibrationTrace::check`] binds it to one).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<CalibrationTrace> {
        if bytes.len() < HEADER {
            return bad(name, format!("truncated: {} bytes, the header alone is {HEADER}", bytes.len()));
        }
        if &bytes[..4] != MAGIC {
            return bad(name, "not an EWCT calibration trace");
        }
        let version = u32_at(bytes, 4);
        if version != VERSION as usize {
            return bad(name, format!("version {version} is not supported"));
        }
        let (count, exits, classes) = (u32_at(bytes, 8), u32_at(bytes, 12), u32_at(bytes, 16));
        if count == 0 || count > MAX_IMAGES || exits == 0 || classes == 0 {
            return bad(name, format!("{count} images, {exits} exits, {classes} classes (need 1 to {MAX_IMAGES} images, ≥ 1 exit and class)"));
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[20..HEADER]);
        // count ≤ 2^24 and exits < 2^32: the sizes fit in u64 and, checked, in usize.
        let records = count.checked_mul(exits);
        let want = records
            .and_then(|r| r.checked_mul(6))
            .and_then(|b| b.checked_add(count * 2))
            .and_then(|b| b.checked_add(HEADER));
        match want {
            Some(w) if w == bytes.len() => {}
            Some(w) => return bad(name, format!("{} bytes, the header implies {w}", bytes.len())),
            None => return bad(name, "sizes overflow"),
        }
        let records = records.unwrap_or(0);
        let body = &bytes[HEADER..];
        let (conf, rest) = body.split_at(records * 4);
        let (class, labels) = rest.split_at(records * 2);
        let confidence: Vec<f32> = conf.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let class: Vec<u16> = class.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let labels: Vec<u16> = labels.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        if let Some(i) = confidence.iter().position(|c| !(0.0..=1.0).contains(c)) {
            return bad(name, format!("image {}, exit {}: confidence {} is not in [0, 1]", i / exits, i % exits, confidence[i]));
        }
        if let Some(i) = class.iter().position(|&c| c as usize >= classes) {
            return bad(name, format!("image {}, exit {}: class {} of {classes}", i / exits, i % exits, class[i]));
        }
        if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
            return bad(name, format!("image {i}: label {} of {classes}", labels[i]));
        }
        Ok(CalibrationTrace { count, exits, classes, digest, confidence, class, labels })
    }

    /// Checks that the trace was made by this model's parts and rules, and is well formed.
    pub fn check(&self, name: &str, m: &Manifest) -> Result<()> {
        if (self.exits, self.classes) != (m.exits.len(), m.classes()) {
            return bad(name, format!("{} exits and {} classes, the model has {} and {}", self.exits, self.classes, m.exits.len(), m.classes()));
        }
        if self.digest != parts_digest(m) {
            return bad(name, "made by other parts, rules or input normalisation than this manifest's (digest differs): trace the bundle again");
        }
        let records = self.count * self.exits;
        if self.confidence.len() != records || self.class.len() != records || self.labels.len() != self.count {
            return bad(name, "record counts differ from the header");
        }
        if self.confidence.iter().any(|c| !(0.0..=1.0).contains(c)) || self.class.iter().chain(&self.labels).any(|&c| c as usize >= self.classes) {
            return bad(name, "a confidence outside [0, 1] or a class outside the model's");
        }
        Ok(())
    }

    /// Serialises: the exact inverse of [`CalibrationTrace::parse`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER + self.confidence.len() * 6 + self.labels.len() * 2);
        b.extend(MAGIC);
        for v in [VERSION as usize, self.count, self.exits, self.classes] {
            b.extend((v as u32).to_le_bytes());
        }
        b.extend(self.digest);
        self.confidence.iter().for_each(|c| b.extend(c.to_le_bytes()));
        self.class.iter().for_each(|c| b.extend(c.to_le_bytes()));
        self.labels.iter().for_each(|c| b.extend(c.to_le_bytes()));
        b
    }

    /// Image `i`'s records: (confidence, class) per exit.
    pub fn image(&self, i: usize) -> impl Iterator<Item = (f32, u16)> + '_ {
        let r = i * self.exits..(i + 1) * self.exits;
        self.confidence[r.clone()].iter().copied().zip(self.class[r].iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CalibrationTrace {
        CalibrationTrace {
            count: 2,
            exits: 2,
            classes: 3,
            digest: [7; 32],
            confidence: vec![0.5, 1.0, 0.0, 0.25],
            class: vec![0, 2, 1, 1],
            labels: vec![2, 1],
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let t = sample();
        let b = t.to_bytes();
        assert_eq!(b.len(), HEADER + 4 * 6 + 2 * 2);
        assert_eq!(CalibrationTrace::parse("t", &b).unwrap(), t);
        let mut cases: Vec<Vec<u8>> = vec![b[..b.len() - 1].to_vec(), b[..10].to_vec(), [b.clone(), vec![0]].concat()];
        let mut nan = b.clone();
        nan[HEADER..HEADER + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let mut over = b.clone();
        over[HEADER + 4..HEADER + 8].copy_from_slice(&1.5f32.to_le_bytes());
        let mut class = b.clone();
        class[HEADER + 16..HEADER + 18].copy_from_slice(&3u16.to_le_bytes());
        let mut label = b.clone();
        let at = b.len() - 2;
        label[at..].copy_from_slice(&9u16.to_le_bytes());
        let mut huge = b.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut zero = b.clone();
        zero[12..16].copy_from_slice(&0u32.to_le_bytes());
        let mut magic = b.clone();
        magic[0] = b'X';
        let mut version = b.clone();
        version[4] = 2;
        cases.extend([nan, over, class, label, huge, zero, magic, version]);
        for c in cases {
            assert_eq!(CalibrationTrace::parse("t", &c).unwrap_err().code, ErrorCode::BadPack);
        }
    }
}
