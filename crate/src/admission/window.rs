//! Convolution and pooling windows: strides, dilations, pads and auto_pad checked, and the
//! output's spatial dims computed (checked arithmetic throughout).

use super::node::Node;
use super::value::MAX_DIM;
use crate::error::Result;

/// An INTS attribute of one positive value per spatial dim (default all 1).
pub fn per_dim(n: &Node, name: &str, spatial: usize) -> Result<Vec<u64>> {
    let Some(v) = n.attrs().ints(name)? else { return Ok(vec![1; spatial]) };
    let what = format!("attribute {name}");
    if v.len() != spatial {
        return Err(n.at.bad(&what, format!("{v:?} has {} values for {spatial} spatial dims", v.len())));
    }
    v.iter()
        .map(|&x| match u64::try_from(x) {
            Ok(x) if (1..=MAX_DIM).contains(&x) => Ok(x),
            _ => Err(n.at.bad(&what, format!("{x} in {v:?} must be between 1 and {MAX_DIM}"))),
        })
        .collect()
}

/// The spatial output dims of a window of `kernel` over `input` (the spatial input dims).
/// `pool`: pads must be smaller than the (dilated) kernel, as onnxruntime requires;
/// `ceil`: ceil_mode.
pub fn output(n: &Node, input: &[u64], kernel: &[u64], dilated: bool, pool: bool, ceil: bool) -> Result<Vec<u64>> {
    let s = input.len();
    let a = n.attrs();
    let strides = per_dim(n, "strides", s)?;
    let dilations = if dilated { per_dim(n, "dilations", s)? } else { vec![1; s] };
    let pads = match a.ints("pads")? {
        None => vec![0; 2 * s],
        Some(p) if p.len() != 2 * s => {
            return Err(n.at.bad("attribute pads", format!("{p:?} has {} values, need 2 × {s} (begin and end per spatial dim)", p.len())));
        }
        Some(p) => p
            .iter()
            .map(|&x| match u64::try_from(x) {
                Ok(x) if x <= MAX_DIM => Ok(x),
                _ => Err(n.at.bad("attribute pads", format!("{x} in {p:?} must be between 0 and {MAX_DIM}"))),
            })
            .collect::<Result<_>>()?,
    };
    let auto_pad = a.string("auto_pad")?.unwrap_or("NOTSET");
    if auto_pad != "NOTSET" && pads.iter().any(|&p| p != 0) {
        return Err(n.at.bad("attribute pads", format!("given with auto_pad {auto_pad}")));
    }
    let mut out = Vec::with_capacity(s);
    for i in 0..s {
        let (x, k, st, d) = (input[i], kernel[i], strides[i], dilations[i]);
        // The dilated kernel's extent: (k − 1)·d + 1, each factor ≤ MAX_DIM so no u64 overflow.
        let dk = (k - 1) * d + 1;
        if dk > MAX_DIM {
            return Err(n.at.bad("attribute dilations", format!("the dilated kernel spans {dk}")));
        }
        let o = match auto_pad {
            "NOTSET" => {
                let (pb, pe) = (pads[i], pads[i + s]);
                if pool && (pb >= dk || pe >= dk) {
                    return Err(n.at.bad("attribute pads", format!("{pb}, {pe} on spatial dim {i} must be smaller than the kernel ({dk})")));
                }
                let total = x + pb + pe; // each ≤ MAX_DIM
                if total < dk {
                    return Err(n.at.bad("attribute kernel_shape", format!(
                        "the kernel spans {dk} on spatial dim {i}, the padded input only {total}"
                    )));
                }
                let span = total - dk;
                match ceil {
                    false => span / st + 1,
                    true => {
                        // As torch and onnxruntime: the last window must start inside the input or its begin pad.
                        let o = span.div_ceil(st) + 1;
                        if (o - 1) * st >= x + pb { o - 1 } else { o }
                    }
                }
            }
            "VALID" => {
                if x < dk {
                    return Err(n.at.bad("attribute kernel_shape", format!("the kernel spans {dk} on spatial dim {i}, the input only {x}")));
                }
                (x - dk) / st + 1
            }
            "SAME_UPPER" | "SAME_LOWER" => x.div_ceil(st),
            other => {
                return Err(n.at.bad("attribute auto_pad", format!("{other:?} is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")));
            }
        };
        if o > MAX_DIM {
            return Err(n.at.bad("output", format!("spatial dim {i} would be {o}")));
        }
        out.push(o);
    }
    Ok(out)
}
