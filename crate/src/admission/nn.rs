//! Rules for the network ops: convolution, pooling, normalisation, products, softmax, reductions.

use super::infer::Outs;
use super::node::Node;
use super::value::{broadcast, MAX_DIM};
use super::window;
use crate::error::Result;

/// The input of a windowed op: rank 3 to 5 (1-D to 3-D), as tract's convolutions and pools.
fn spatial_input<'a>(n: &'a Node) -> Result<&'a super::value::Val> {
    let x = n.data(0, "X")?;
    if !(3..=5).contains(&x.rank()) {
        return Err(n.at.unsupported("input 0 (X)", format!("shape {:?}: only 1-D to 3-D windows over [N, C, …]", x.shape)));
    }
    Ok(x)
}

pub fn conv(n: &Node) -> Result<Outs> {
    n.attrs().only(&["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])?;
    n.arity(2, 3, 1)?;
    // tract-hir panics on a bias input named "" (found by crate/fuzz): an omitted bias must be
    // left out of the node's inputs.
    if n.at.node.input.get(2).is_some_and(|b| b.is_empty()) {
        return Err(n.at.bad("input 2 (B)", "named \"\": leave an omitted bias out of the inputs"));
    }
    let x = spatial_input(n)?;
    let w = n.data(1, "W")?;
    let r = x.rank();
    if w.rank() != r {
        return Err(n.at.bad("input 1 (W)", format!("shape {:?} for an input of rank {r}", w.shape)));
    }
    let group = n.attrs().int("group")?.unwrap_or(1);
    let g = match u64::try_from(group) {
        Ok(g) if (1..=MAX_DIM).contains(&g) => g,
        _ => return Err(n.at.bad("attribute group", format!("{group} must be at least 1"))),
    };
    let (c, m) = (x.shape[1], w.shape[0]);
    if c % g != 0 || m % g != 0 {
        return Err(n.at.bad("attribute group", format!("{g} does not divide the {c} input and {m} output channels")));
    }
    if w.shape[1] * g != c {
        return Err(n.at.bad("input 1 (W)", format!("shape {:?}: {} channels per group, the input has {c} in {g} groups", w.shape, w.shape[1])));
    }
    let kernel = &w.shape[2..];
    if m == 0 || kernel.contains(&0) {
        return Err(n.at.bad("input 1 (W)", format!("empty kernel {:?}", w.shape)));
    }
    if let Some(ks) = n.attrs().ints("kernel_shape")? {
        let ks_u: Vec<u64> = window::per_dim(n, "kernel_shape", kernel.len())?;
        if ks_u != kernel {
            return Err(n.at.bad("attribute kernel_shape", format!("{ks:?} differs from the weights' {kernel:?}")));
        }
    }
    if n.input(2).is_some() {
        let b = n.data(2, "B")?;
        if b.shape != [m] {
            return Err(n.at.bad("input 2 (B)", format!("shape {:?}, expected [{m}]", b.shape)));
        }
    }
    let out_hw = window::output(n, &x.shape[2..], kernel, true, false, false)?;
    let mut shape = vec![x.shape[0], m];
    shape.extend(&out_hw);
    // tract's im2col: C·prod(kernel) rows × prod(output pixels), f32.
    let scratch = [c].iter().chain(kernel).chain(&out_hw).try_fold(4u64, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX);
    Ok(Outs { vals: vec![n.out(shape)?], scratch })
}

pub fn pool(n: &Node, max: bool) -> Result<Outs> {
    let known: &[&str] = match max {
        true => &["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"],
        false => &["auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"],
    };
    n.attrs().only(known)?;
    n.arity(1, 1, 1)?;
    let x = spatial_input(n)?;
    let a = n.attrs();
    let (_, _, ceil) = (a.flag("storage_order", false)?, a.flag("count_include_pad", false)?, a.flag("ceil_mode", false)?);
    if a.ints("kernel_shape")?.is_none() {
        return Err(n.at.bad("attribute kernel_shape", "required"));
    }
    let kernel = window::per_dim(n, "kernel_shape", x.rank() - 2)?;
    let out_hw = window::output(n, &x.shape[2..], &kernel, max, true, ceil)?;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(out_hw);
    Ok(n.out(shape)?.into())
}

pub fn global_pool(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(1, 1, 1)?;
    let x = spatial_input(n)?;
    let mut shape = x.shape[..2].to_vec();
    shape.resize(x.rank(), 1);
    Ok(n.out(shape)?.into())
}

pub fn batch_norm(n: &Node) -> Result<Outs> {
    n.attrs().only(&["epsilon", "momentum", "training_mode"])?;
    n.arity(5, 5, 1)?;
    if n.attrs().flag("training_mode", false)? {
        return Err(n.at.unsupported("attribute training_mode", "training mode is not supported"));
    }
    let eps = n.attrs().float("epsilon")?.unwrap_or(1e-5);
    if eps < 0.0 {
        return Err(n.at.bad("attribute epsilon", format!("{eps} is negative")));
    }
    n.attrs().float("momentum")?;
    let x = n.data(0, "X")?;
    if x.rank() < 2 {
        return Err(n.at.bad("input 0 (X)", format!("shape {:?} has no channel axis", x.shape)));
    }
    let c = x.shape[1];
    for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
        let v = n.data(i, what)?;
        if v.shape != [c] {
            return Err(n.at.bad(&format!("input {i} ({what})"), format!("shape {:?}, expected [{c}]", v.shape)));
        }
    }
    Ok(n.out(x.shape.clone())?.into())
}

pub fn gemm(n: &Node) -> Result<Outs> {
    n.attrs().only(&["alpha", "beta", "transA", "transB"])?;
    n.arity(2, 3, 1)?;
    let a = n.attrs();
    let (ta, tb) = (a.flag("transA", false)?, a.flag("transB", false)?);
    a.float("alpha")?;
    a.float("beta")?;
    let (x, w) = (n.data(0, "A")?, n.data(1, "B")?);
    if x.rank() != 2 || w.rank() != 2 {
        return Err(n.at.bad("inputs", format!("A {:?} and B {:?} must be matrices", x.shape, w.shape)));
    }
    let (m, k) = if ta { (x.shape[1], x.shape[0]) } else { (x.shape[0], x.shape[1]) };
    let (k2, nn) = if tb { (w.shape[1], w.shape[0]) } else { (w.shape[0], w.shape[1]) };
    if k != k2 {
        return Err(n.at.bad("inputs", format!("A {:?} and B {:?} (transA {ta}, transB {tb}) do not multiply", x.shape, w.shape)));
    }
    if n.input(2).is_some() {
        let c = n.data(2, "C")?;
        if c.rank() > 2 || broadcast(&c.shape, &[m, nn]).as_deref() != Some(&[m, nn][..]) {
            return Err(n.at.bad("input 2 (C)", format!("shape {:?} does not broadcast to [{m}, {nn}]", c.shape)));
        }
    }
    Ok(n.out(vec![m, nn])?.into())
}

pub fn matmul(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(2, 2, 1)?;
    let (a, b) = (n.data(0, "A")?, n.data(1, "B")?);
    if a.rank() == 0 || b.rank() == 0 {
        return Err(n.at.bad("inputs", "MatMul of a scalar"));
    }
    // numpy: a vector operand gains a unit axis, removed from the result.
    let aa = if a.rank() == 1 { vec![1, a.shape[0]] } else { a.shape.clone() };
    let bb = if b.rank() == 1 { vec![b.shape[0], 1] } else { b.shape.clone() };
    let (ra, rb) = (aa.len(), bb.len());
    if aa[ra - 1] != bb[rb - 2] {
        return Err(n.at.bad("inputs", format!("A {:?} and B {:?} do not multiply", a.shape, b.shape)));
    }
    let mut shape = broadcast(&aa[..ra - 2], &bb[..rb - 2])
        .ok_or_else(|| n.at.bad("inputs", format!("batch dims of A {:?} and B {:?} do not broadcast", a.shape, b.shape)))?;
    if a.rank() > 1 {
        shape.push(aa[ra - 2]);
    }
    if b.rank() > 1 {
        shape.push(bb[rb - 1]);
    }
    Ok(n.out(shape)?.into())
}

pub fn softmax(n: &Node) -> Result<Outs> {
    n.attrs().only(&["axis"])?;
    n.arity(1, 1, 1)?;
    let x = n.data(0, "input")?;
    let default = if n.opset >= 13 { -1 } else { 1 };
    let a = n.attrs().int("axis")?.unwrap_or(default);
    if super::value::axis(a, x.rank(), false).is_none() {
        return Err(n.at.bad("attribute axis", format!("{a} is out of range for rank {}", x.rank())));
    }
    Ok(n.out(x.shape.clone())?.into())
}

/// ReduceSum/Mean/Max/Min: axes as an input from opset 13 (Sum) or 18 (the others).
pub fn reduce(n: &Node, axes_input_from: i64) -> Result<Outs> {
    let axes = if n.opset >= axes_input_from {
        n.attrs().only(&["keepdims", "noop_with_empty_axes"])?;
        n.arity(1, 2, 1)?;
        n.ints(1, "axes")?.map(<[i64]>::to_vec)
    } else {
        n.attrs().only(&["axes", "keepdims"])?;
        n.arity(1, 1, 1)?;
        n.attrs().ints("axes")?.map(<[i64]>::to_vec)
    };
    let keep = n.attrs().flag("keepdims", true)?;
    let noop = n.attrs().flag("noop_with_empty_axes", false)?;
    let x = n.data(0, "data")?;
    let axes = match axes.filter(|a| !a.is_empty()) {
        Some(a) => n.axes("axes", &a, x.rank())?,
        None if noop => return Ok(n.out(x.shape.clone())?.into()),
        None => (0..x.rank()).collect(),
    };
    let shape: Vec<u64> = x.shape.iter().enumerate().filter_map(|(i, &d)| match axes.contains(&i) {
        true => keep.then_some(1),
        false => Some(d),
    }).collect();
    Ok(n.out(shape)?.into())
}
