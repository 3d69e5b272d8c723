//! 2-D window geometry (kernel, stride, dilation, padding) of a convolution or pool, read once
//! from tract's `PoolSpec` for concrete spatial dims: what the WebGPU lowering and the CPU
//! kernels both need.

use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::nn::DataFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pad_before: [usize; 2],
    pub pad_after: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
}

impl Window {
    /// The window of `spec` over an NCHW input of height and width `hw`; `None` unless the spec
    /// is 2-D NCHW with every kernel size, stride and dilation at least 1.
    pub fn of(spec: &PoolSpec, hw: [usize; 2]) -> Option<Window> {
        if spec.data_format != DataFormat::NCHW || spec.rank() != 2 {
            return None;
        }
        let pair = |v: &[usize]| -> Option<[usize; 2]> { v.try_into().ok() };
        let pads = spec.computed_padding(&hw);
        let (h, w) = (pads.first()?, pads.get(1)?);
        let window = Window {
            kernel: pair(&spec.kernel_shape)?,
            stride: pair(&spec.strides())?,
            dilation: pair(&spec.dilations())?,
            pad_before: [h.pad_before, w.pad_before],
            pad_after: [h.pad_after, w.pad_after],
            output: [h.convoluted, w.convoluted],
        };
        window.kernel.iter().chain(&window.stride).chain(&window.dilation).all(|&k| k >= 1).then_some(window)
    }
}
