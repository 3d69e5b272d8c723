//! What a lowered [`Program`] dispatches for concrete shapes: the symbols bound from the inputs,
//! each step's kernels and parameter blocks (recorded by [`super::instance`]).

use super::kernels::Kernel;
use super::lower::{Op, Program, Window};
use super::GpuTensor;
use crate::error::{Error, ErrorCode, Result};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

fn backend(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Backend, msg.into())
}

/// Row-major strides of `shape`, 0 on unit axes (so that a broadcast axis re-reads one value).
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        s[i] = if shape[i] == 1 { 0 } else { acc };
        acc *= shape[i];
    }
    s
}

fn window_params(w: &Window) -> [usize; 10] {
    [
        w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.dilation[0], w.dilation[1],
        w.pad_before[0], w.pad_before[1], w.pad_after[0], w.pad_after[1],
    ]
}

/// One kernel launch: the kernel, its parameter block, and which of the step's inputs it reads.
type Dispatch = (Kernel, Vec<usize>, Vec<usize>);

/// The dispatches of `op`, for concrete shapes.
pub(super) fn dispatches(op: &Op, ins: &[&[usize]], out: &[usize]) -> Result<Vec<Dispatch>> {
    let total: usize = out.iter().product();
    let dims4 = |s: &[usize]| -> Result<[usize; 4]> {
        s.try_into().map_err(|_| backend(format!("expected an NCHW tensor, got {s:?}")))
    };
    Ok(match op {
        Op::View => vec![],
        Op::Conv { window: w, group, fast } => {
            let [_, cin, h, wd] = dims4(ins[0])?;
            let [_, cout, oh, ow] = dims4(out)?;
            if *fast {
                vec![(Kernel::Conv1x1, vec![total, cin, h * wd, cout], vec![0, 1, 2])]
            } else {
                let g = window_params(w);
                // Four output channels per thread when a group's channels divide by four.
                let cb = if (cout / group.max(&1)) % 4 == 0 { 4 } else { 1 };
                let p = vec![total / cb, cin, h, wd, cout, oh, ow, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], *group, cb];
                vec![(Kernel::Conv, p, vec![0, 1, 2])]
            }
        }
        Op::Gemm(g) => {
            // A role's size is the product of its axes; its stride that of its innermost axis.
            let size = |s: &[usize], p: &[usize]| p.iter().map(|&i| s[i]).product::<usize>();
            let st = |s: &[usize], p: &[usize]| p.last().map_or(0, |&i| s[i + 1..].iter().product());
            let (a, b) = (ins[0], ins[1]);
            let (m, n, k) = (size(out, &g.y[1]), size(out, &g.y[2]), size(a, &g.a[2]));
            let (sa, sb) = ([st(a, &g.a[0]), st(a, &g.a[1]), st(a, &g.a[2])], [st(b, &g.b[0]), st(b, &g.b[1]), st(b, &g.b[2])]);
            let sy = [st(out, &g.y[0]), st(out, &g.y[1]), st(out, &g.y[2])];
            // Threads walk n fastest; swapping the operands (Yᵀ = B·Aᵀ) puts the output's
            // contiguous axis there, so neighbouring threads write neighbouring values.
            if sy[1] < sy[2] {
                vec![(Kernel::Gemm, [vec![total, n, m, k], sb.to_vec(), sa.to_vec(), vec![sy[0], sy[2], sy[1]]].concat(), vec![1, 0])]
            } else {
                vec![(Kernel::Gemm, [vec![total, m, n, k], sa.to_vec(), sb.to_vec(), sy.to_vec()].concat(), vec![0, 1])]
            }
        }
        Op::Binary(code) => {
            let rank = out.len();
            if rank > 6 || ins.iter().any(|s| s.len() > rank) {
                return Err(backend(format!("binary op on rank {rank}: at most 6")));
            }
            let aligned = |s: &[usize]| {
                let mut st = vec![0; rank - s.len()];
                st.extend(strides(s));
                st.resize(6, 0);
                st
            };
            let mut p = vec![total, rank, *code as usize];
            p.extend(out.iter().copied().chain(std::iter::repeat(1)).take(6));
            p.extend(aligned(ins[0]));
            p.extend(aligned(ins[1]));
            vec![(Kernel::Binary, p, vec![0, 1])]
        }
        Op::Unary(code) => vec![(Kernel::Unary, vec![total, *code as usize], vec![0])],
        Op::Pool { window: w, mode } => {
            let [_, _, h, wd] = dims4(ins[0])?;
            let [_, _, oh, ow] = dims4(out)?;
            let mut p = vec![total, h, wd, oh, ow];
            p.extend(window_params(w));
            p.push(*mode as usize);
            vec![(Kernel::Pool, p, vec![0])]
        }
        Op::Reduce { first, end, op } => {
            let s = ins[0];
            let (r, inner): (usize, usize) = (s[*first..*end].iter().product(), s[*end..].iter().product());
            vec![(Kernel::Reduce, vec![total, r, inner, *op as usize], vec![0])]
        }
        Op::Softmax { first, end } => {
            let s = ins[0];
            let (len, inner): (usize, usize) = (s[*first..*end].iter().product(), s[*end..].iter().product());
            vec![(Kernel::Softmax, vec![total / len.max(1), len, inner], vec![0])]
        }
        Op::Concat { axis } => {
            let inner: usize = out[axis + 1..].iter().product();
            let mut offset = 0;
            let mut v = vec![];
            for (i, s) in ins.iter().enumerate() {
                let len = s[*axis];
                v.push((Kernel::Copy, vec![s.iter().product(), len, inner, len, 0, 1, out[*axis], offset], vec![i]));
                offset += len;
            }
            v
        }
        Op::Downsample { axis, stride, modulo } => {
            let inner: usize = out[axis + 1..].iter().product();
            let len = out[*axis];
            vec![(Kernel::Copy, vec![total, len, inner, ins[0][*axis], *modulo, *stride, len, 0], vec![0])]
        }
    })
}

/// The kernels a run of `p` dispatches: one per step, none for a view, one per input of a
/// concatenation (a run may dispatch fewer: empty tensors launch nothing).
pub fn kernel_count(p: &Program) -> usize {
    p.steps
        .iter()
        .map(|s| match s.op {
            Op::View => 0,
            Op::Concat { .. } => s.inputs.len(),
            _ => 1,
        })
        .sum()
}

/// Binds every symbol in the inputs' declared shapes (the batch `N`) to the given tensors' dims.
pub(super) fn bind(p: &Program, inputs: &[GpuTensor], file: &str) -> Result<SymbolValues> {
    let mut values = SymbolValues::default();
    for (i, (&v, t)) in p.inputs.iter().zip(inputs).enumerate() {
        let want = &p.shapes[v];
        let ok = want.len() == t.shape.len()
            && want.iter().zip(&t.shape).all(|(d, &got)| match d {
                TDim::Sym(s) => {
                    values.set(s, got as i64);
                    true
                }
                d => d.to_usize().is_ok_and(|d| d == got),
            });
        if !ok {
            return Err(Error::new(ErrorCode::ShapeMismatch, format!("{file}: input {i} is {:?}, the graph takes {want:?}", t.shape)));
        }
    }
    Ok(values)
}
