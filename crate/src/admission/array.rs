//! Rules for the shape and indexing ops, and for constants. Their shape inputs (Reshape's
//! shape, Slice's starts …) must be int64 constants so that output shapes are known at load.

use super::infer::Outs;
use super::node::Node;
use super::tensor;
use super::value::{axis, numel, Dt, Val, MAX_DIM, MAX_RANK};
use crate::error::Result;
use std::rc::Rc;

fn product(n: &Node, dims: &[u64]) -> Result<u64> {
    numel(dims, Dt::F32).map_err(|why| n.at.bad("output", why))
}

fn one_axis(n: &Node, what: &str, a: i64, rank: usize, end_ok: bool) -> Result<usize> {
    axis(a, rank, end_ok).ok_or_else(|| n.at.bad(what, format!("axis {a} is out of range for rank {rank}")))
}

pub fn identity(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(1, 1, 1)?;
    let v = n.input(0).ok_or_else(|| n.at.bad("input 0", "required but missing"))?;
    Ok(v.clone().into())
}

pub fn flatten(n: &Node) -> Result<Outs> {
    n.attrs().only(&["axis"])?;
    n.arity(1, 1, 1)?;
    let x = n.data(0, "input")?;
    let a = one_axis(n, "attribute axis", n.attrs().int("axis")?.unwrap_or(1), x.rank(), true)?;
    let shape = vec![product(n, &x.shape[..a])?, product(n, &x.shape[a..])?];
    Ok(n.out(shape)?.into())
}

pub fn reshape(n: &Node) -> Result<Outs> {
    n.attrs().only(if n.opset >= 14 { &["allowzero"] } else { &[] })?;
    n.arity(2, 2, 1)?;
    let allowzero = n.attrs().flag("allowzero", false)?;
    let x = n.data(0, "data")?;
    let spec = n.ints(1, "shape")?.ok_or_else(|| n.at.bad("input 1 (shape)", "required but missing"))?;
    let what = "input 1 (shape)";
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        let d = match s {
            -1 if infer.is_some() => return Err(n.at.bad(what, format!("{spec:?} has more than one -1"))),
            -1 => {
                infer = Some(i);
                1
            }
            0 if !allowzero => *x.shape.get(i).ok_or_else(|| n.at.bad(what, format!("0 at {i} copies a dim the input {:?} lacks", x.shape)))?,
            s => u64::try_from(s).ok().filter(|&s| s <= MAX_DIM).ok_or_else(|| n.at.bad(what, format!("{s} in {spec:?} is not a dimension")))?,
        };
        shape.push(d);
    }
    let (known, total) = (product(n, &shape)?, x.numel());
    match infer {
        Some(i) if known != 0 && total % known == 0 => shape[i] = total / known,
        None if known == total => {}
        _ => return Err(n.at.bad(what, format!("{spec:?} does not fit the input's {:?} ({total} elements)", x.shape))),
    }
    Ok(n.out(shape)?.into())
}

/// Squeeze and Unsqueeze: axes as an attribute before opset 13, an input from 13.
fn axes_arg(n: &Node, required: bool) -> Result<Option<Vec<i64>>> {
    let axes = if n.opset >= 13 {
        n.attrs().only(&[])?;
        n.arity(if required { 2 } else { 1 }, 2, 1)?;
        n.ints(1, "axes")?.map(<[i64]>::to_vec)
    } else {
        n.attrs().only(&["axes"])?;
        n.arity(1, 1, 1)?;
        n.attrs().ints("axes")?.map(<[i64]>::to_vec)
    };
    if required && axes.is_none() {
        return Err(n.at.bad("axes", "required but missing"));
    }
    Ok(axes)
}

pub fn squeeze(n: &Node) -> Result<Outs> {
    let axes = axes_arg(n, false)?;
    let x = n.data(0, "data")?;
    let shape = match axes {
        // Which dims are 1 would depend on the batch (1 here, symbolic in tract).
        None => return Err(n.at.unsupported("axes", "Squeeze without axes is not supported")),
        Some(a) => {
            let ax = n.axes("axes", &a, x.rank())?;
            if let Some(&i) = ax.iter().find(|&&i| x.shape[i] != 1) {
                return Err(n.at.bad("axes", format!("axis {i} of {:?} is not 1", x.shape)));
            }
            x.shape.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, &d)| d).collect()
        }
    };
    Ok(n.out(shape)?.into())
}

pub fn unsqueeze(n: &Node) -> Result<Outs> {
    let axes = axes_arg(n, true)?.unwrap_or_default();
    let x = n.data(0, "data")?;
    let rank = x.rank() + axes.len();
    if rank > MAX_RANK {
        return Err(n.at.bad("axes", format!("{} axes make rank {rank}, over {MAX_RANK}", axes.len())));
    }
    let ax = n.axes("axes", &axes, rank)?;
    let mut rest = x.shape.iter();
    let shape = (0..rank).map(|i| if ax.contains(&i) { 1 } else { rest.next().copied().unwrap_or(1) }).collect();
    Ok(n.out(shape)?.into())
}

pub fn transpose(n: &Node) -> Result<Outs> {
    n.attrs().only(&["perm"])?;
    n.arity(1, 1, 1)?;
    let x = n.data(0, "data")?;
    let r = x.rank();
    let perm: Vec<usize> = match n.attrs().ints("perm")? {
        None => (0..r).rev().collect(),
        Some(p) => {
            let mut seen = vec![false; r];
            let mut out = Vec::with_capacity(r);
            for &a in p {
                match usize::try_from(a).ok().filter(|&a| a < r) {
                    Some(a) if !seen[a] && p.len() == r => {
                        seen[a] = true;
                        out.push(a);
                    }
                    _ => return Err(n.at.bad("attribute perm", format!("{p:?} is not a permutation of 0..{r}"))),
                }
            }
            if out.len() != r {
                return Err(n.at.bad("attribute perm", format!("{p:?} is not a permutation of 0..{r}")));
            }
            out
        }
    };
    Ok(n.out(perm.iter().map(|&a| x.shape[a]).collect())?.into())
}

pub fn concat(n: &Node) -> Result<Outs> {
    n.attrs().only(&["axis"])?;
    n.arity(1, 4096, 1)?;
    let a = n.attrs().int("axis")?.ok_or_else(|| n.at.bad("attribute axis", "required"))?;
    let first = n.data(0, "inputs")?;
    let ax = one_axis(n, "attribute axis", a, first.rank(), false)?;
    let mut shape = first.shape.clone();
    for i in 1..n.ins.len() {
        let v = n.data(i, "inputs")?;
        let fits = v.rank() == shape.len() && v.shape.iter().zip(&shape).enumerate().all(|(j, (x, y))| j == ax || x == y);
        if !fits {
            return Err(n.at.bad(&format!("input {i}"), format!("shape {:?} does not concatenate with {:?} on axis {ax}", v.shape, first.shape)));
        }
        shape[ax] = shape[ax].checked_add(v.shape[ax]).filter(|&d| d <= MAX_DIM).ok_or_else(|| n.at.bad("output", "concatenated dim too large"))?;
    }
    Ok(n.out(shape)?.into())
}

pub fn gather(n: &Node) -> Result<Outs> {
    n.attrs().only(&["axis"])?;
    n.arity(2, 2, 1)?;
    let x = n.data(0, "data")?;
    let ax = one_axis(n, "attribute axis", n.attrs().int("axis")?.unwrap_or(0), x.rank(), false)?;
    let (iv, idx) = n.ints_nd(1, "indices")?.ok_or_else(|| n.at.bad("input 1 (indices)", "required but missing"))?;
    let d = x.shape[ax];
    let di = i64::try_from(d).unwrap_or(i64::MAX);
    if let Some(&bad) = idx.iter().find(|&&i| i < -di || i >= di) {
        return Err(n.at.bad("input 1 (indices)", format!("index {bad} is out of range for axis {ax} of size {d}")));
    }
    let mut shape = x.shape[..ax].to_vec();
    shape.extend(&iv.shape);
    shape.extend(&x.shape[ax + 1..]);
    Ok(n.out(shape)?.into())
}

pub fn slice(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(3, 5, 1)?;
    let x = n.data(0, "data")?;
    let req = |i, what| n.ints(i, what)?.ok_or_else(|| n.at.bad(&format!("input {i} ({what})"), "required but missing"));
    let (starts, ends) = (req(1, "starts")?, req(2, "ends")?);
    let k = starts.len();
    let default_axes: Vec<i64> = (0..k as i64).collect();
    let axes = n.ints(3, "axes")?.unwrap_or(&default_axes);
    let ones = vec![1; k];
    let steps = n.ints(4, "steps")?.unwrap_or(&ones);
    if ends.len() != k || axes.len() != k || steps.len() != k {
        return Err(n.at.bad("inputs", format!("starts {starts:?}, ends {ends:?}, axes {axes:?}, steps {steps:?} differ in length")));
    }
    let ax = n.axes("input 3 (axes)", axes, x.rank())?;
    let mut shape = x.shape.clone();
    for i in 0..k {
        let (d, st) = (x.shape[ax[i]] as i128, steps[i] as i128);
        let fix = |v: i64| if v < 0 { v as i128 + d } else { v as i128 };
        let (s, e) = (fix(starts[i]), fix(ends[i]));
        let len = match st {
            0 => return Err(n.at.bad("input 4 (steps)", format!("step 0 in {steps:?}"))),
            st if st > 0 => (e.clamp(0, d) - s.clamp(0, d)).max(0).div_ceil_pos(st),
            st => (s.clamp(0, d - 1) - e.clamp(-1, d - 1)).max(0).div_ceil_pos(-st),
        };
        shape[ax[i]] = len as u64;
    }
    Ok(n.out(shape)?.into())
}

trait DivCeilPos {
    fn div_ceil_pos(self, d: i128) -> i128;
}
impl DivCeilPos for i128 {
    /// `self` ≥ 0, `d` > 0.
    fn div_ceil_pos(self, d: i128) -> i128 {
        (self + d - 1) / d
    }
}

pub fn split(n: &Node) -> Result<Outs> {
    let sizes = match n.opset {
        ..=12 => {
            n.attrs().only(&["axis", "split"])?;
            n.arity(1, 1, n.at.node.output.len())?;
            n.attrs().ints("split")?.map(<[i64]>::to_vec)
        }
        o => {
            n.attrs().only(if o >= 18 { &["axis", "num_outputs"] } else { &["axis"] })?;
            n.arity(1, 2, n.at.node.output.len())?;
            n.ints(1, "split")?.map(<[i64]>::to_vec)
        }
    };
    let outs = n.at.node.output.len() as u64;
    let x = n.data(0, "input")?;
    let ax = one_axis(n, "attribute axis", n.attrs().int("axis")?.unwrap_or(0), x.rank(), false)?;
    let d = x.shape[ax];
    if let Some(k) = n.attrs().int("num_outputs")? {
        if u64::try_from(k).ok() != Some(outs) || sizes.is_some() {
            return Err(n.at.bad("attribute num_outputs", format!("{k} with {outs} outputs{}", if sizes.is_some() { " and split sizes" } else { "" })));
        }
    }
    let sizes: Vec<u64> = match sizes {
        Some(s) => {
            let sum = s.iter().try_fold(0i64, |a, &b| if b < 1 { None } else { a.checked_add(b) });
            if s.len() as u64 != outs || sum.and_then(|x| u64::try_from(x).ok()) != Some(d) {
                return Err(n.at.bad("split", format!("sizes {s:?} for {outs} outputs do not split axis {ax} of size {d}")));
            }
            s.iter().map(|&v| v as u64).collect()
        }
        None if outs == 0 || (d % outs != 0 && n.opset < 18) || d < outs => {
            return Err(n.at.bad("outputs", format!("{outs} outputs do not split axis {ax} of size {d} evenly")));
        }
        // Opset 18: chunks of ceil(d / outs), the last smaller.
        None => {
            let c = d.div_ceil(outs);
            let last = d.checked_sub(c * (outs - 1)).filter(|&l| l > 0).ok_or_else(|| n.at.bad("outputs", format!("{outs} outputs do not split axis {ax} of size {d}")))?;
            (0..outs).map(|i| if i + 1 == outs { last } else { c }).collect()
        }
    };
    let vals = sizes.iter().map(|&s| {
        let mut shape = x.shape.clone();
        shape[ax] = s;
        n.out(shape)
    }).collect::<Result<Vec<Val>>>()?;
    Ok(Outs { vals, scratch: 0 })
}

pub fn pad(n: &Node) -> Result<Outs> {
    n.attrs().only(&["mode"])?;
    n.arity(2, 4, 1)?;
    if n.input(3).is_some() {
        return Err(n.at.unsupported("input 3 (axes)", "Pad with axes is not supported"));
    }
    let x = n.data(0, "data")?;
    let pads = n.ints(1, "pads")?.ok_or_else(|| n.at.bad("input 1 (pads)", "required but missing"))?;
    n.scalar(2, "constant_value")?;
    let r = x.rank();
    let what = "input 1 (pads)";
    if pads.len() != 2 * r {
        return Err(n.at.bad(what, format!("{pads:?} has {} values, need 2 × rank {r}", pads.len())));
    }
    if let Some(p) = pads.iter().find(|&&p| p < 0) {
        return Err(n.at.unsupported(what, format!("negative pad {p} (cropping) is not supported")));
    }
    let mode = n.attrs().string("mode")?.unwrap_or("constant");
    let mut shape = Vec::with_capacity(r);
    for (i, &d) in x.shape.iter().enumerate() {
        let (b, e) = (pads[i] as u64, pads[i + r] as u64);
        match mode {
            "constant" | "edge" => {}
            "reflect" if b < d && e < d => {}
            "reflect" => return Err(n.at.bad(what, format!("reflect pads {b}, {e} on axis {i} must be smaller than its size {d}"))),
            m => return Err(n.at.bad("attribute mode", format!("{m:?} is not constant, reflect or edge"))),
        }
        let o = d.checked_add(b).and_then(|o| o.checked_add(e)).filter(|&o| o <= MAX_DIM);
        shape.push(o.ok_or_else(|| n.at.bad(what, format!("pads {b}, {e} make axis {i} of size {d} larger than {MAX_DIM}")))?);
    }
    Ok(n.out(shape)?.into())
}

pub fn constant_of_shape(n: &Node) -> Result<Outs> {
    n.attrs().only(&["value"])?;
    n.arity(1, 1, 1)?;
    let spec = n.ints(0, "input")?.ok_or_else(|| n.at.bad("input 0 (input)", "required but missing"))?;
    let shape: Vec<u64> = spec
        .iter()
        .map(|&d| u64::try_from(d).ok().filter(|&d| d <= MAX_DIM).ok_or_else(|| n.at.bad("input 0 (input)", format!("{d} in {spec:?} is not a dimension"))))
        .collect::<Result<_>>()?;
    if let Some(t) = n.attrs().tensor("value")? {
        let v = tensor::constant(t, &format!("{}: attribute value", n.at.whom()))?;
        if v.dt != Dt::F32 || v.numel() != 1 {
            return Err(n.at.unsupported("attribute value", "must be one FLOAT (float outputs only)"));
        }
    }
    Ok(n.out(shape)?.into())
}

pub fn constant(n: &Node) -> Result<Outs> {
    let a = n.attrs();
    a.only(&["value", "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings", "sparse_value"])?;
    n.arity(0, 0, 1)?;
    if n.at.node.attribute.len() != 1 {
        return Err(n.at.bad("attributes", "a Constant takes exactly one value attribute"));
    }
    let v = if let Some(t) = a.tensor("value")? {
        tensor::constant(t, &format!("{}: attribute value", n.at.whom()))?
    } else if a.float_any("value_float")?.is_some() {
        Val { dt: Dt::F32, shape: vec![], konst: true, ints: None }
    } else if let Some(f) = a.floats("value_floats")? {
        Val { dt: Dt::F32, shape: vec![f.len() as u64], konst: true, ints: None }
    } else if let Some(i) = a.int("value_int")? {
        Val { dt: Dt::I64, shape: vec![], konst: true, ints: Some(Rc::from([i])) }
    } else if let Some(i) = a.ints("value_ints")? {
        Val { dt: Dt::I64, shape: vec![i.len() as u64], konst: true, ints: Some(Rc::from(i)) }
    } else {
        let name = n.at.node.attribute.first().map(|a| a.name.as_str()).unwrap_or_default();
        return Err(n.at.unsupported(&format!("attribute {name}"), "string and sparse constants are not supported"));
    };
    numel(&v.shape, v.dt).map_err(|why| n.at.bad("output", why))?;
    Ok(v.into())
}
