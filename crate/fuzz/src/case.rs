//! A fuzz case: a real bundle from `models/` (the *base*), the files that replace or join its
//! own, the files it drops, and what to run. Serialised (`exitwise-fuzz/1`) with only the
//! changed files, so a finding stays small and names the base it needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub type Files = BTreeMap<String, Vec<u8>>;

pub const MAGIC: &str = "exitwise-fuzz/1";

/// The bundles of `models/` the targets start from.
pub const BUNDLES: &[&str] = &["tiny-mnist", "resnet-fmnist", "resnet-fmnist-pt", "mobilenet-random"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Manifest,
    Pack,
    Onnx,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Manifest, Target::Pack, Target::Onnx];

    pub fn name(self) -> &'static str {
        match self {
            Target::Manifest => "manifest",
            Target::Pack => "pack",
            Target::Onnx => "onnx",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// What an execution does with the case's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// `Bundle::from_files`, then (when it loads) `CpuModel::new` and one `classify` of a valid
    /// input at the default thresholds.
    Bundle,
    /// `exitwise::pack::Pack::parse` of that one file (then every image read back).
    ParsePack(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub target: Target,
    /// A folder name under `models/`.
    pub base: String,
    pub run: Run,
    /// Files that replace the base's or join them.
    pub set: Files,
    /// Base files left out.
    pub drop: BTreeSet<String>,
    /// The mutations applied, for people.
    pub note: String,
    /// (seed, index) of the generated case, when it was generated.
    pub origin: Option<(u64, u64)>,
}

/// The real bundles, read once: for each, `manifest.json` and every file it names.
#[derive(Debug, Default)]
pub struct Bases {
    pub bundles: BTreeMap<String, Files>,
}

/// `models/` of this repository (or `$EXITWISE_MODELS`).
pub fn models_dir() -> PathBuf {
    match std::env::var_os("EXITWISE_MODELS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

impl Bases {
    pub fn load(models: &Path) -> Result<Bases, String> {
        let mut bundles = BTreeMap::new();
        for b in BUNDLES {
            let dir = models.join(b);
            let read = |n: &str| std::fs::read(dir.join(n)).map_err(|e| format!("{}: {e}", dir.join(n).display()));
            let manifest = read("manifest.json")?;
            let v: serde_json::Value = serde_json::from_slice(&manifest).map_err(|e| format!("{b}/manifest.json: {e}"))?;
            let mut files = Files::new();
            for f in named_files(&v) {
                files.insert(f.clone(), read(&f)?);
            }
            files.insert("manifest.json".into(), manifest);
            bundles.insert(b.to_string(), files);
        }
        Ok(Bases { bundles })
    }

    pub fn get(&self, base: &str) -> &Files {
        &self.bundles[base]
    }
}

/// Every file a (real) manifest names.
pub fn named_files(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for list in ["segments", "exits"] {
        for p in v[list].as_array().into_iter().flatten() {
            out.extend(p["file"].as_str().map(String::from));
        }
    }
    for k in ["test_pack", "calibration_pack", "reference", "calibration_trace"] {
        out.extend(v[k]["file"].as_str().map(String::from));
    }
    out
}

impl Case {
    /// The file set an execution sees.
    pub fn files(&self, bases: &Bases) -> Files {
        let mut files: Files = bases
            .get(&self.base)
            .iter()
            .filter(|(k, _)| !self.drop.contains(*k) && !self.set.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        files.extend(self.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        files
    }

    /// The serialised form (header lines, then each changed file as `file NAME LEN` and its
    /// bytes). `extra`: header lines such as the finding's `signature` and `message`.
    pub fn to_bytes(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let one_line = |s: &str| s.replace(['\n', '\r'], " ");
        let mut out = format!("{MAGIC}\ntarget {}\nbase {}\n", self.target.name(), self.base);
        match &self.run {
            Run::Bundle => out.push_str("run bundle\n"),
            Run::ParsePack(f) => out.push_str(&format!("run parse-pack {}\n", hex(f.as_bytes()))),
        }
        if let Some((s, i)) = self.origin {
            out.push_str(&format!("origin {s} {i}\n"));
        }
        for (k, v) in extra {
            out.push_str(&format!("{k} {}\n", one_line(v)));
        }
        out.push_str(&format!("note {}\n", one_line(&self.note)));
        for d in &self.drop {
            out.push_str(&format!("drop {}\n", hex(d.as_bytes())));
        }
        let mut out = out.into_bytes();
        for (name, bytes) in &self.set {
            out.extend(format!("file {} {}\n", hex(name.as_bytes()), bytes.len()).into_bytes());
            out.extend(bytes);
            out.push(b'\n');
        }
        out
    }

    /// Parses [`Case::to_bytes`]; also returns the extra header lines (`signature`, `message`).
    pub fn from_bytes(bytes: &[u8]) -> Result<(Case, BTreeMap<String, String>), String> {
        let mut at = 0usize;
        let mut case = Case {
            target: Target::Manifest,
            base: String::new(),
            run: Run::Bundle,
            set: Files::new(),
            drop: BTreeSet::new(),
            note: String::new(),
            origin: None,
        };
        let (mut target, mut extra, mut first) = (None, BTreeMap::new(), true);
        while at < bytes.len() {
            let rest = &bytes[at..];
            let end = rest.iter().position(|&b| b == b'\n').ok_or("truncated line")?;
            let l = String::from_utf8_lossy(&rest[..end]).into_owned();
            at += end + 1;
            if std::mem::take(&mut first) {
                if l != MAGIC {
                    return Err(format!("not an {MAGIC} case"));
                }
                continue;
            }
            let (key, value) = l.split_once(' ').unwrap_or((l.as_str(), ""));
            match key {
                "target" => target = Target::parse(value),
                "base" => case.base = value.to_string(),
                "run" if value == "bundle" => case.run = Run::Bundle,
                "run" => {
                    let f = value.strip_prefix("parse-pack ").ok_or_else(|| format!("bad run line {value:?}"))?;
                    case.run = Run::ParsePack(unhex(f)?);
                }
                "origin" => {
                    let bad = || format!("bad origin {value:?}");
                    let (s, i) = value.split_once(' ').ok_or_else(bad)?;
                    case.origin = Some((s.parse().map_err(|_| bad())?, i.parse().map_err(|_| bad())?));
                }
                "signature" | "message" | "kind" => {
                    extra.insert(key.to_string(), value.to_string());
                }
                "note" => case.note = value.to_string(),
                "drop" => {
                    case.drop.insert(unhex(value)?);
                }
                "file" => {
                    let (name, len) = value.split_once(' ').ok_or("bad file line")?;
                    let len: usize = len.parse().map_err(|_| "bad file length")?;
                    let end = at.checked_add(len).filter(|&e| e < bytes.len() && bytes[e] == b'\n').ok_or("truncated file")?;
                    case.set.insert(unhex(name)?, bytes[at..end].to_vec());
                    at = end + 1;
                }
                _ => return Err(format!("unknown line {key:?}")),
            }
        }
        if first {
            return Err(format!("not an {MAGIC} case"));
        }
        case.target = target.ok_or("no target")?;
        if !BUNDLES.contains(&case.base.as_str()) {
            return Err(format!("unknown base {:?}", case.base));
        }
        Ok((case, extra))
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<String, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("bad hex {s:?}"));
    }
    let bytes: Result<Vec<u8>, _> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16)).collect();
    String::from_utf8(bytes.map_err(|_| format!("bad hex {s:?}"))?).map_err(|_| format!("bad name {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let case = Case {
            target: Target::Onnx,
            base: "tiny-mnist".into(),
            run: Run::ParsePack("../x\nfile".into()),
            set: Files::from([("a\nb".into(), b"x\ny\n".to_vec()), ("m".into(), vec![]), ("z".into(), vec![0, 10, 10])]),
            drop: BTreeSet::from(["testpack.bin".into()]),
            note: "two\nlines".into(),
            origin: Some((3, 99)),
        };
        let (back, extra) = Case::from_bytes(&case.to_bytes(&[("signature", "panic at x.rs:1")])).unwrap();
        assert_eq!(extra.get("signature").map(String::as_str), Some("panic at x.rs:1"));
        assert_eq!(back, Case { note: "two lines".into(), ..case });
    }
}
