//! Reading a two-input EinSum (what tract makes of MatMul, Gemm and 1×1 convolutions) as the
//! gemm kernel's `Y[b, m, n] = Σ_k A[b, m, k] · B[b, n, k]`.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;

/// Which axes of A, B and the output play each role of `Y[b, m, n] = Σ_k A[b, m, k] B[b, n, k]`;
/// a role may span several adjacent axes (read as one) or none.
#[derive(Debug, Clone, PartialEq)]
pub struct GemmAxes {
    /// Positions in A of b, m, k.
    pub a: [Vec<usize>; 3],
    /// Positions in B of b, n, k.
    pub b: [Vec<usize>; 3],
    /// Positions in the output of b, m, n.
    pub y: [Vec<usize>; 3],
}

/// Maps a two-input EinSum onto the gemm kernel's roles. Axes of one role must form one
/// run that is adjacent (up to unit axes) and in the same order in every operand, so that
/// it reads as a single axis; a second run of output-only axes becomes the batch.
pub fn gemm_axes(e: &EinSum, shapes: &[TVec<TDim>; 3]) -> Result<GemmAxes, String> {
    // Per role (shared, A-and-output, B-and-output, summed): each axis' position in A, B, Y.
    let mut roles: [Vec<[Option<usize>; 3]>; 4] = Default::default();
    for axis in e.axes.iter_all_axes() {
        let pos = [axis.inputs[0].as_slice(), axis.inputs[1].as_slice(), axis.outputs[0].as_slice()];
        if pos.iter().any(|p| p.len() > 1) {
            return Err(format!("axis {} repeated in one operand", axis.repr));
        }
        let at = [pos[0].first().copied(), pos[1].first().copied(), pos[2].first().copied()];
        let dims: Vec<&TDim> = (0..3).filter_map(|t| at[t].map(|i| &shapes[t][i])).collect();
        if dims.iter().all(|d| d.is_one()) {
            continue; // unit axes carry no data
        }
        if dims.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!("axis {} is broadcast", axis.repr));
        }
        let role = match at {
            [Some(_), Some(_), Some(_)] => 0,
            [Some(_), None, Some(_)] => 1,
            [None, Some(_), Some(_)] => 2,
            [Some(_), Some(_), None] => 3,
            _ => return Err(format!("axis {} is summed within one operand", axis.repr)),
        };
        roles[role].push(at);
    }
    let [shared, m, n, k] = roles.map(|axes| runs(axes, shapes));
    let mut batch = shared;
    let mut two = |mut r: Vec<Vec<[Option<usize>; 3]>>| -> Result<Vec<[Option<usize>; 3]>, String> {
        if r.len() == 2 && batch.is_empty() {
            batch.push(r.remove(0));
        }
        match r.len() {
            0 => Ok(vec![]),
            1 => Ok(r.remove(0)),
            _ => Err("output axes that do not form one matrix product".to_string()),
        }
    };
    let (m, n) = (two(m)?, two(n)?);
    if batch.len() > 1 || k.len() > 1 {
        return Err("more than one batch or summed run".to_string());
    }
    let (b, k) = (batch.pop().unwrap_or_default(), k.into_iter().next().unwrap_or_default());
    let take = |run: &[[Option<usize>; 3]], t: usize| run.iter().filter_map(|a| a[t]).collect::<Vec<_>>();
    Ok(GemmAxes {
        a: [take(&b, 0), take(&m, 0), take(&k, 0)],
        b: [take(&b, 1), take(&n, 1), take(&k, 1)],
        y: [take(&b, 2), take(&m, 2), take(&n, 2)],
    })
}

/// Splits axes (positions in A, B, Y) into runs that merge into one axis in every operand:
/// sorted by position, each next axis right after the previous one up to unit axes.
fn runs(mut axes: Vec<[Option<usize>; 3]>, shapes: &[TVec<TDim>; 3]) -> Vec<Vec<[Option<usize>; 3]>> {
    let key = |a: &[Option<usize>; 3]| a[2].or(a[0]).unwrap_or(0);
    axes.sort_by_key(key);
    let adjacent = |p: &[Option<usize>; 3], q: &[Option<usize>; 3]| {
        (0..3).all(|t| match (p[t], q[t]) {
            (Some(i), Some(j)) => j > i && shapes[t][i + 1..j].iter().all(|d| d.is_one()),
            (None, None) => true,
            _ => false,
        })
    };
    let mut out: Vec<Vec<[Option<usize>; 3]>> = vec![];
    for a in axes {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|p| adjacent(p, &a)) => run.push(a),
            _ => out.push(vec![a]),
        }
    }
    out
}

