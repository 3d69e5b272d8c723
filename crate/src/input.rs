//! Inputs: checking raw tensors against the manifest, normalising them, and turning RGBA images
//! of any size into the manifest's input.

use crate::backend::HostTensor;
use crate::error::{err, ErrorCode, Result};
use crate::manifest::InputSpec;

/// Values this far outside `input.range` are still accepted (float noise from resizing).
const RANGE_SLACK: f32 = 1e-3;

/// Checks `n` inputs (values in the manifest's range, C·H·W each) and normalises them into an
/// `[n, C, H, W]` tensor: `(x − mean[c]) / std[c]`.
pub fn normalize(spec: &InputSpec, data: &[f32], n: usize) -> Result<HostTensor> {
    let shape = input_shape(spec, data, n)?;
    let mut out = vec![0f32; data.len()];
    normalize_into(spec, data, &mut out)?;
    Ok(HostTensor { shape, data: out })
}

/// The `[n, C, H, W]` shape of `n` inputs held in `data`, or why `data` is not that.
pub fn input_shape(spec: &InputSpec, data: &[f32], n: usize) -> Result<Vec<usize>> {
    let len = spec.len();
    if n == 0 || Some(data.len()) != n.checked_mul(len) {
        return err(ErrorCode::BadInput, format!(
            "input has {} values, expected {n} × {len} (shape [{n}, {}, {}, {}])",
            data.len(), spec.channels(), spec.height(), spec.width()
        ));
    }
    let mut shape = spec.shape.clone();
    shape[0] = n;
    Ok(shape)
}

/// [`normalize`] written into `out` (as long as `data`), in one pass: every value checked
/// (finite, within the range) and normalised.
pub fn normalize_into(spec: &InputSpec, data: &[f32], out: &mut [f32]) -> Result<()> {
    let [lo, hi] = spec.range;
    let plane = (spec.height() * spec.width()).max(1);
    let channels = spec.channels().max(1);
    if out.len() != data.len() {
        return err(ErrorCode::BadInput, format!("{} values for a tensor of {}", data.len(), out.len()));
    }
    for (p, (src, dst)) in data.chunks(plane).zip(out.chunks_mut(plane)).enumerate() {
        let c = p % channels;
        let (mean, std) = (spec.mean.get(c).copied().unwrap_or(0.0), spec.std.get(c).copied().unwrap_or(1.0));
        for (j, (&v, d)) in src.iter().zip(dst).enumerate() {
            check_value(p * plane + j, v, lo, hi)?;
            *d = (v.clamp(lo, hi) - mean) / std;
        }
    }
    Ok(())
}

/// One input as given (C·H·W values), checked as `classify` checks it: the right count, every
/// value finite and within the range.
pub fn check_values(spec: &InputSpec, data: &[f32]) -> Result<()> {
    input_shape(spec, data, 1)?;
    let [lo, hi] = spec.range;
    data.iter().enumerate().try_for_each(|(i, &v)| check_value(i, v, lo, hi))
}

#[inline]
fn check_value(i: usize, v: f32, lo: f32, hi: f32) -> Result<()> {
    // One comparison pair rejects NaN, ±inf and out-of-range values alike.
    if v >= lo - RANGE_SLACK && v <= hi + RANGE_SLACK {
        Ok(())
    } else if v.is_finite() {
        err(ErrorCode::BadInput, format!("input value {i} is {v}, outside the model's range [{lo}, {hi}]"))
    } else {
        err(ErrorCode::BadInput, format!("input value {i} is {v} (not finite)"))
    }
}

/// Options for converting an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageOptions {
    /// Invert intensities (dark ink on a light page → MNIST's light ink on black).
    pub invert: bool,
}

/// Converts an RGBA image (row-major, 4 bytes per pixel) of any size to one input in the
/// manifest's range: area-averaged resize to H×W, luminance when the model takes one channel,
/// alpha composited over black.
pub fn from_rgba(spec: &InputSpec, rgba: &[u8], width: usize, height: usize, opts: ImageOptions) -> Result<Vec<f32>> {
    if width == 0 || height == 0 || width.checked_mul(height).and_then(|p| p.checked_mul(4)) != Some(rgba.len()) {
        return err(ErrorCode::BadInput, format!(
            "image of {width}×{height} needs {} RGBA bytes, got {}",
            width.saturating_mul(height).saturating_mul(4), rgba.len()
        ));
    }
    let (c_in, h, w) = (spec.channels(), spec.height(), spec.width());
    if c_in != 1 && c_in != 3 {
        return err(ErrorCode::BadInput, format!("images can feed 1- or 3-channel models, this one takes {c_in}"));
    }
    let [lo, hi] = spec.range;
    let mut out = vec![0f32; c_in * h * w];
    for oy in 0..h {
        // Source rows/cols covered by this output pixel (at least one).
        let (y0, y1) = span(oy, h, height);
        for ox in 0..w {
            let (x0, x1) = span(ox, w, width);
            let mut acc = [0f32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let p = &rgba[(y * width + x) * 4..(y * width + x) * 4 + 4];
                    let a = p[3] as f32 / 255.0;
                    for (c, v) in acc.iter_mut().enumerate() {
                        *v += p[c] as f32 * a;
                    }
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f32;
            let rgb = acc.map(|v| v / count / 255.0);
            let rgb = if opts.invert { rgb.map(|v| 1.0 - v) } else { rgb };
            if c_in == 1 {
                let l = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
                out[oy * w + ox] = lo + l * (hi - lo);
            } else {
                for c in 0..3 {
                    out[c * h * w + oy * w + ox] = lo + rgb[c] * (hi - lo);
                }
            }
        }
    }
    Ok(out)
}

/// The half-open source range [a, b) that output index `o` of `n_out` covers in `n_in`.
fn span(o: usize, n_out: usize, n_in: usize) -> (usize, usize) {
    let a = o * n_in / n_out;
    let b = ((o + 1) * n_in).div_ceil(n_out).max(a + 1).min(n_in);
    (a.min(n_in - 1), b)
}

/// Pixels (u8, CHW) of a pack image to the manifest's range.
pub fn from_u8(spec: &InputSpec, pixels: &[u8]) -> Vec<f32> {
    let [lo, hi] = spec.range;
    pixels.iter().map(|&p| lo + p as f32 / 255.0 * (hi - lo)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(c: usize, h: usize, w: usize) -> InputSpec {
        InputSpec {
            shape: vec![1, c, h, w],
            dtype: "f32".into(),
            layout: "NCHW".into(),
            range: [0.0, 1.0],
            mean: vec![0.5; c],
            std: vec![0.25; c],
        }
    }

    #[test]
    fn normalize_applies_mean_and_std() {
        let t = normalize(&spec(1, 1, 2), &[0.5, 1.0], 1).unwrap();
        assert_eq!(t.shape, vec![1, 1, 1, 2]);
        assert_eq!(t.data, vec![0.0, 2.0]);
    }

    #[test]
    fn normalize_rejects_bad_values() {
        let s = spec(1, 1, 2);
        for bad in [vec![0.5], vec![f32::NAN, 0.0], vec![0.0, f32::INFINITY], vec![0.0, 1.5], vec![-0.2, 0.0]] {
            assert_eq!(normalize(&s, &bad, 1).unwrap_err().code, ErrorCode::BadInput, "{bad:?}");
        }
        assert_eq!(normalize(&s, &[], 0).unwrap_err().code, ErrorCode::BadInput);
    }

    #[test]
    fn rgba_downscale_averages_and_grays() {
        // 2×2 white/black checker → one gray pixel at 0.5.
        let img = [255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 255];
        let v = from_rgba(&spec(1, 1, 1), &img, 2, 2, ImageOptions::default()).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-6);
        let v = from_rgba(&spec(1, 1, 1), &img, 2, 2, ImageOptions { invert: true }).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-6);
        // Upscale 1×1 red to 2×2 RGB.
        let v = from_rgba(&spec(3, 2, 2), &[255, 0, 0, 255], 1, 1, ImageOptions::default()).unwrap();
        assert_eq!(v, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn rgba_rejects_wrong_sizes() {
        let s = spec(1, 28, 28);
        assert_eq!(from_rgba(&s, &[0; 15], 2, 2, ImageOptions::default()).unwrap_err().code, ErrorCode::BadInput);
        assert_eq!(from_rgba(&s, &[], 0, 0, ImageOptions::default()).unwrap_err().code, ErrorCode::BadInput);
        assert_eq!(from_rgba(&s, &[0; 4], usize::MAX, 2, ImageOptions::default()).unwrap_err().code, ErrorCode::BadInput);
    }
}
