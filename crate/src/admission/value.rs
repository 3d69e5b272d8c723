//! What admission knows of each value: its type, its shape at batch 1, whether tract will fold
//! it into a constant at load, and the values of small int64 constants (shapes, axes, pads,
//! indices). Sizes use checked arithmetic and stay within what tract can index.

use std::rc::Rc;

/// Largest dimension accepted (ONNX dims beyond i32 are refused rather than truncated).
pub const MAX_DIM: u64 = i32::MAX as u64;
/// Largest element count of one tensor.
pub const MAX_ELEMS: u64 = i32::MAX as u64;
/// Largest byte size of one tensor on this target (so that it fits `isize` on wasm32).
pub const MAX_BYTES: u64 = isize::MAX as u64;
/// Largest rank of any tensor (exported CNNs stay far below; tract's shapes are small vectors).
pub const MAX_RANK: usize = 16;
/// Int64 constants larger than this are not read (no shape or index input is this long).
pub const MAX_INTS: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dt {
    F32,
    I64,
}

impl Dt {
    pub fn size(self) -> u64 {
        match self {
            Dt::F32 => 4,
            Dt::I64 => 8,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Val {
    pub dt: Dt,
    pub shape: Vec<u64>,
    /// Known at load: tract folds it into a constant, held for the part's life.
    pub konst: bool,
    /// The values of an int64 constant of at most `MAX_INTS` elements.
    pub ints: Option<Rc<[i64]>>,
}

/// The element count, or why the shape is refused.
pub fn numel(shape: &[u64], dt: Dt) -> Result<u64, String> {
    if shape.len() > MAX_RANK {
        return Err(format!("rank {} exceeds {MAX_RANK}", shape.len()));
    }
    let mut n: u64 = 1;
    for &d in shape {
        if d > MAX_DIM {
            return Err(format!("dimension {d} in {shape:?} exceeds {MAX_DIM}"));
        }
        n = n.checked_mul(d).ok_or_else(|| format!("shape {shape:?} overflows"))?;
    }
    if n > MAX_ELEMS || n.saturating_mul(dt.size()) > MAX_BYTES {
        return Err(format!("shape {shape:?} has {n} elements, more than one tensor may hold"));
    }
    Ok(n)
}

impl Val {
    /// A computed (non-constant) float value; the shape must already have passed `numel`.
    pub fn f32(shape: Vec<u64>) -> Val {
        Val { dt: Dt::F32, shape, konst: false, ints: None }
    }
    pub fn numel(&self) -> u64 {
        // Every Val's shape passed `numel` when it was made.
        numel(&self.shape, self.dt).unwrap_or(u64::MAX)
    }
    pub fn bytes(&self) -> u64 {
        self.numel().saturating_mul(self.dt.size())
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// `a` as an axis of a rank-`rank` tensor: in `[-rank, rank)`, or `[-rank, rank]` when `end_ok`.
pub fn axis(a: i64, rank: usize, end_ok: bool) -> Option<usize> {
    let r = i64::try_from(rank).ok()?;
    let hi = if end_ok { r } else { r - 1 };
    let a = if a < 0 { a.checked_add(r)? } else { a };
    (0..=hi).contains(&a).then_some(a as usize)
}

/// Multidirectional (numpy) broadcasting.
pub fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let r = a.len().max(b.len());
    let at = |s: &[u64], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}
