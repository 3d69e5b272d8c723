//! One node's inputs as admission sees them, with the checks every op rule shares.

use super::ctx::{At, Attrs};
use super::value::{numel, Dt, Val};
use crate::error::Result;

pub struct Node<'a> {
    pub at: At<'a>,
    /// The default domain's operator set version.
    pub opset: i64,
    /// Per ONNX input position; `None` where the optional input is left out ("").
    pub ins: Vec<Option<Val>>,
}

impl Node<'_> {
    pub fn attrs(&self) -> Attrs<'_> {
        self.at.attrs()
    }

    /// The node has between `min` and `max` input positions and exactly `outs` outputs.
    pub fn arity(&self, min: usize, max: usize, outs: usize) -> Result<()> {
        let n = self.ins.len();
        if n < min || n > max {
            let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
            return Err(self.at.bad("inputs", format!("takes {want} inputs, has {n}")));
        }
        self.outputs(outs)
    }

    pub fn outputs(&self, outs: usize) -> Result<()> {
        let n = self.at.node.output.len();
        match n == outs {
            true => Ok(()),
            false => Err(self.at.unsupported("outputs", format!("{n} outputs, exitwise runs the form with {outs}"))),
        }
    }

    pub fn input(&self, i: usize) -> Option<&Val> {
        self.ins.get(i).and_then(|v| v.as_ref())
    }

    /// A required float input.
    pub fn data(&self, i: usize, what: &str) -> Result<&Val> {
        let v = self.input(i).ok_or_else(|| self.at.bad(&format!("input {i} ({what})"), "required but missing"))?;
        match v.dt {
            Dt::F32 => Ok(v),
            Dt::I64 => Err(self.at.unsupported(&format!("input {i} ({what})"), "int64 data (only float data is supported)")),
        }
    }

    /// An optional int64 input, which must be a constant admission can read (any rank).
    pub fn ints_nd(&self, i: usize, what: &str) -> Result<Option<(&Val, &[i64])>> {
        let Some(v) = self.input(i) else { return Ok(None) };
        let w = format!("input {i} ({what})");
        if v.dt != Dt::I64 {
            return Err(self.at.bad(&w, "must be int64"));
        }
        match &v.ints {
            Some(x) if v.konst => Ok(Some((v, x))),
            None if v.konst => Err(self.at.bad(&w, format!("a constant of {} values, more than {}", v.numel(), super::value::MAX_INTS))),
            _ => Err(self.at.unsupported(&w, "must be a constant (an initializer or a Constant node)")),
        }
    }

    /// An optional int64 constant input of rank ≤ 1 (shapes, axes, pads, starts …).
    pub fn ints(&self, i: usize, what: &str) -> Result<Option<&[i64]>> {
        match self.ints_nd(i, what)? {
            Some((v, _)) if v.rank() > 1 => {
                Err(self.at.bad(&format!("input {i} ({what})"), format!("must be a scalar or a list, has shape {:?}", v.shape)))
            }
            x => Ok(x.map(|(_, x)| x)),
        }
    }

    /// An optional float input holding one value (Clip's bounds, Pad's constant).
    pub fn scalar(&self, i: usize, what: &str) -> Result<()> {
        if self.input(i).is_some() {
            let v = self.data(i, what)?;
            if v.numel() != 1 || v.rank() > 1 {
                return Err(self.at.bad(&format!("input {i} ({what})"), format!("must hold one value, has shape {:?}", v.shape)));
            }
        }
        Ok(())
    }

    /// A float output of `shape`: every dim at least 1 and the size within one tensor's limit.
    pub fn out(&self, shape: Vec<u64>) -> Result<Val> {
        if shape.contains(&0) {
            return Err(self.at.bad("output", format!("would have the empty shape {shape:?}")));
        }
        numel(&shape, Dt::F32).map_err(|why| self.at.bad("output", why))?;
        Ok(Val::f32(shape))
    }

    /// An int64 attribute or input list as axes of a rank-`rank` tensor, distinct.
    pub fn axes(&self, what: &str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(axes.len());
        for &a in axes {
            let x = super::value::axis(a, rank, false)
                .ok_or_else(|| self.at.bad(what, format!("axis {a} is out of range for rank {rank}")))?;
            if out.contains(&x) {
                return Err(self.at.bad(what, format!("axis {a} is repeated in {axes:?}")));
            }
            out.push(x);
        }
        Ok(out)
    }
}
