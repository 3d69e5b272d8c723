//! Constant padding of the last two axes of an f32 tensor: what tract inserts before every
//! padded convolution it runs through lazy im2col. tract's `Pad` goes through ndarray's generic
//! slice assignment (8 µs for 16×14×14 on wasm); this writes each row once.

use tract_onnx::tract_core::internal::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Pad2d {
    /// Input shape, fixed when the plan is built; every axis but the last two is unpadded.
    pub input: TVec<usize>,
    /// (before, after) for the last two axes: rows, then columns.
    pub pads: [(usize, usize); 2],
    pub value: f32,
}

impl Eq for Pad2d {}

impl Pad2d {
    /// The padded shape; `None` for an input of rank < 2 or a size past `usize`.
    pub fn output(&self) -> Option<TVec<usize>> {
        let mut s = self.input.clone();
        let r = s.len().checked_sub(2)?;
        for (d, (before, after)) in s[r..].iter_mut().zip(self.pads) {
            *d = d.checked_add(before)?.checked_add(after)?;
        }
        Some(s)
    }
}

impl Op for Pad2d {
    fn name(&self) -> StaticName {
        "exitwise.Pad2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("pads {:?} value {}", self.pads, self.value)])
    }

    op_as_typed_op!();
}

impl EvalOp for Pad2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        if input.shape() != &*self.input {
            bail!("{}: input {:?}, planned for {:?}", self.name(), input.shape(), self.input);
        }
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<f32>()?;
        let Some(shape) = self.output() else { bail!("{}: no padded shape for {:?}", self.name(), self.input) };
        let r = shape.len();
        let (h, w) = (self.input[r - 2], self.input[r - 1]);
        let (ph, pw) = (shape[r - 2], shape[r - 1]);
        let mut out = Tensor::zero::<f32>(&shape)?;
        if h * w == 0 || ph * pw == 0 {
            return Ok(tvec!(out.into_tvalue()));
        }
        {
            let mut view = out.try_as_plain_ram_mut()?;
            let dst = view.as_slice_mut::<f32>()?;
            if self.value != 0.0 || self.value.is_sign_negative() {
                dst.fill(self.value);
            }
            let (top, left) = (self.pads[0].0, self.pads[1].0);
            for (s, d) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(ph * pw)) {
                for (y, line) in s.chunks_exact(w).enumerate() {
                    let at = (top + y) * pw + left;
                    d[at..at + w].copy_from_slice(line);
                }
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Pad2d {
    as_op!();

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let Some(shape) = self.output() else { bail!("{}: no padded shape for {:?}", self.name(), self.input) };
        Ok(tvec!(f32::fact(shape)))
    }
}
