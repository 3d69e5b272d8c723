//! 2-D max pooling over NCHW f32 planes. tract's own pool walks a generic patch per output on
//! wasm (its SIMD fast path is stride 1 on x86/arm only): a 2×2/2 pool of 16×28×28 took 215 µs
//! there, longer than the convolution before it. This is a plain loop over each plane.

use crate::backend::window::Window;
use tract_onnx::tract_core::internal::*;

/// tract's max step: `v` replaces the running maximum only when greater (so a NaN never does).
/// Written as a select, not a branch, so the 2×2 loop has none.
#[inline(always)]
fn fold(m: f32, v: f32) -> f32 {
    if m < v { v } else { m }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaxPool2d {
    /// Input shape [N, C, H, W], fixed when the plan is built.
    pub input: [usize; 4],
    pub window: Window,
}

impl MaxPool2d {
    /// [N, C, OH, OW].
    pub fn output(&self) -> [usize; 4] {
        [self.input[0], self.input[1], self.window.output[0], self.window.output[1]]
    }

    /// One plane. Out-of-bounds taps (padding) are skipped, and a value replaces the running
    /// maximum only when greater — tract's fold, so both give the same bits (NaN included).
    fn plane(&self, src: &[f32], dst: &mut [f32]) {
        let [_, _, h, w] = self.input;
        let Window { kernel, stride, dilation, pad_before, output: [_, ow], .. } = self.window;
        for (oy, row) in dst.chunks_exact_mut(ow).enumerate() {
            for (ox, out) in row.iter_mut().enumerate() {
                let mut m = f32::MIN;
                for ky in 0..kernel[0] {
                    let Some(iy) = (oy * stride[0] + ky * dilation[0]).checked_sub(pad_before[0]) else { continue };
                    if iy >= h {
                        continue;
                    }
                    let line = &src[iy * w..(iy + 1) * w];
                    for kx in 0..kernel[1] {
                        let Some(ix) = (ox * stride[1] + kx * dilation[1]).checked_sub(pad_before[1]) else { continue };
                        if let Some(&v) = line.get(ix) {
                            m = fold(m, v);
                        }
                    }
                }
                *out = m;
            }
        }
    }

    /// The unpadded 2×2, stride-2 pool (every shipped bundle's): two rows in, one row out.
    fn plane_2x2s2(&self, src: &[f32], dst: &mut [f32]) {
        let [_, _, _, w] = self.input;
        let ow = self.window.output[1];
        for (row, pair) in dst.chunks_exact_mut(ow).zip(src.chunks_exact(2 * w)) {
            let (a, b) = pair.split_at(w);
            let done = row_2x2s2_simd(row, a, b);
            for ((out, a), b) in row[done..].iter_mut().zip(a[2 * done..].chunks_exact(2)).zip(b[2 * done..].chunks_exact(2)) {
                *out = fold(fold(fold(fold(f32::MIN, a[0]), a[1]), b[0]), b[1]);
            }
        }
    }
}

/// Four outputs at a time with wasm SIMD (the package is built at opt-level "z", where LLVM does
/// not vectorise the scalar loop): even and odd columns of both rows de-interleaved, then folded
/// in the scalar order with `f32x4.pmax`, which is defined as `a < b ? b : a` — `fold` itself, so
/// the bits (NaN included) are the scalar path's. Returns how many outputs it wrote.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn row_2x2s2_simd(row: &mut [f32], a: &[f32], b: &[f32]) -> usize {
    use core::arch::wasm32::*;
    let quads = row.len() / 4;
    let (a, b) = (&a[..8 * quads], &b[..8 * quads]);
    for ((out, a), b) in row.chunks_exact_mut(4).zip(a.chunks_exact(8)).zip(b.chunks_exact(8)) {
        // Safety: each chunk is exactly 8 (inputs) or 4 (output) f32s; v128 loads and stores
        // have no alignment requirement.
        unsafe {
            let (a0, a1) = (v128_load(a.as_ptr().cast()), v128_load(a.as_ptr().add(4).cast()));
            let (b0, b1) = (v128_load(b.as_ptr().cast()), v128_load(b.as_ptr().add(4).cast()));
            let mut m = f32x4_splat(f32::MIN);
            m = f32x4_pmax(m, i32x4_shuffle::<0, 2, 4, 6>(a0, a1));
            m = f32x4_pmax(m, i32x4_shuffle::<1, 3, 5, 7>(a0, a1));
            m = f32x4_pmax(m, i32x4_shuffle::<0, 2, 4, 6>(b0, b1));
            m = f32x4_pmax(m, i32x4_shuffle::<1, 3, 5, 7>(b0, b1));
            v128_store(out.as_mut_ptr().cast(), m);
        }
    }
    4 * quads
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn row_2x2s2_simd(_row: &mut [f32], _a: &[f32], _b: &[f32]) -> usize {
    0
}

impl Op for MaxPool2d {
    fn name(&self) -> StaticName {
        "exitwise.MaxPool2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let w = &self.window;
        Ok(vec![format!("kernel {:?} stride {:?} dilation {:?} pad {:?}", w.kernel, w.stride, w.dilation, w.pad_before)])
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let src = input.try_as_plain_ram()?;
        let src = src.as_slice::<f32>()?;
        let [n, c, h, w] = self.input;
        let [oh, ow] = self.window.output;
        if input.shape() != self.input {
            bail!("{}: input {:?}, planned for {:?}", self.name(), input.shape(), self.input);
        }
        if h * w == 0 || oh * ow == 0 {
            return Ok(tvec!(Tensor::zero::<f32>(&self.output())?.into_tvalue()));
        }
        // Safety: f32 has no invalid bit patterns, and both plane loops write every output
        // (`simple` guarantees oh full row pairs and ow full column pairs).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&self.output())? };
        {
            let mut view = out.try_as_plain_ram_mut()?;
            let dst = view.as_slice_mut::<f32>()?;
            // Without padding, and no partial window at the end (ceil mode could add one).
            let wd = &self.window;
            let simple = wd.kernel == [2, 2] && wd.stride == [2, 2] && wd.dilation == [1, 1] && wd.pad_before == [0, 0] && oh * 2 <= h && ow * 2 <= w;
            for (s, d) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(oh * ow)).take(n * c) {
                if simple {
                    self.plane_2x2s2(s, d);
                } else {
                    self.plane(s, d);
                }
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for MaxPool2d {
    as_op!();

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(self.output())))
    }
}
