//! Convolution, pooling, batch normalisation, softmax and activations.

use super::Built;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::pb_helpers::OptionExt;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::{self, cnn, nn};

/// ONNX `pads` / `auto_pad` (pools also read `ceil_mode`), as tract-onnx's `pad`.
fn padding(node: &NodeProto, pool_rules: bool) -> TractResult<cnn::PaddingSpec> {
    let ceil_mode = node.get_attr_opt::<isize>("ceil_mode")?.unwrap_or(0) == 1;
    let default = match node.get_attr_opt_vec::<isize>("kernel_shape")? {
        Some(shape) if pool_rules => cnn::PaddingSpec::ExplicitOnnxPool(tvec!(0; shape.len()), tvec!(0; shape.len()), ceil_mode),
        Some(shape) => cnn::PaddingSpec::Explicit(tvec!(0; shape.len()), tvec!(0; shape.len())),
        None => cnn::PaddingSpec::Valid,
    };
    if let Some(pads) = node.get_attr_opt_tvec::<usize>("pads")? {
        let half = pads.len() / 2;
        let (left, right) = (pads[..half].into(), pads[half..].into());
        return Ok(if pool_rules { cnn::PaddingSpec::ExplicitOnnxPool(left, right, ceil_mode) } else { cnn::PaddingSpec::Explicit(left, right) });
    }
    Ok(node
        .get_attr_opt("auto_pad")?
        .and_try(|s| {
            node.check_value(
                "auto_pad",
                match s {
                    "NOTSET" => Ok(default.clone()),
                    "VALID" => Ok(cnn::PaddingSpec::Valid),
                    "SAME_UPPER" => Ok(cnn::PaddingSpec::SameUpper),
                    "SAME_LOWER" => Ok(cnn::PaddingSpec::SameLower),
                    _ => Err(s),
                },
            )
        })?
        .unwrap_or(default))
}

pub fn conv(_: &ParsingContext, node: &NodeProto) -> Built {
    let mut op = ops::cnn::Conv::default().padding(padding(node, false)?);
    if let Some(kernel_shape) = node.get_attr_opt_tvec("kernel_shape")? {
        op = op.kernel_shape(kernel_shape);
    }
    if let Some(group) = node.get_attr_opt("group")? {
        op = op.group(group);
    }
    if let Some(v) = node.get_attr_opt_tvec("dilations")? {
        op = op.dilations(v);
    }
    if let Some(v) = node.get_attr_opt_tvec("strides")? {
        op = op.strides(v);
    }
    if node.input.len() == 3 {
        op = op.bias_input(2);
    }
    Ok((expand(op), vec![]))
}

fn pool_spec(node: &NodeProto) -> TractResult<cnn::PoolSpec> {
    let kernel_shape = node.get_attr_tvec("kernel_shape")?;
    let pad = padding(node, true)?;
    let strides = node.get_attr_opt_tvec("strides")?;
    let dilations = node.get_attr_opt_tvec("dilations")?;
    Ok(cnn::PoolSpec::new(nn::DataFormat::NCHW, kernel_shape, pad, dilations, strides, 0, 0))
}

pub fn average_pool(_: &ParsingContext, node: &NodeProto) -> Built {
    let count_include_pad = node.get_attr_opt("count_include_pad")?.unwrap_or(false);
    Ok((expand(cnn::HirSumPool::new(pool_spec(node)?, count_include_pad, true)), vec![]))
}

/// The one-output form (admission refuses the `Indices` output).
pub fn max_pool(_: &ParsingContext, node: &NodeProto) -> Built {
    if node.output.len() != 1 {
        bail!("MaxPool with {} outputs: exitwise runs the one-output form", node.output.len());
    }
    Ok((expand(cnn::HirMaxPool::new(pool_spec(node)?, None)), vec![]))
}

pub fn global_average_pool(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((expand(ops::nn::GlobalAvgPool), vec![]))
}

pub fn global_max_pool(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((expand(ops::nn::GlobalMaxPool), vec![]))
}

pub fn relu(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((expand(ops::activations::Clip::new(Some(0.0), None)), vec![]))
}

pub fn sigmoid(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::nn::sigmoid().into_hir(), vec![]))
}

/// Before opset 13 Softmax flattens from `axis` (default 1); from 13 it is per axis (default -1).
pub fn softmax(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let axis = node.get_attr_opt("axis")?;
    if ctx.onnx_operator_set_version < 13 {
        Ok((expand(ops::nn::LayerSoftmax::new(axis.unwrap_or(1), true)), vec![]))
    } else {
        Ok((expand(ops::nn::Softmax::new(axis.unwrap_or(-1))), vec![]))
    }
}

pub fn batch_normalization(_: &ParsingContext, node: &NodeProto) -> Built {
    let epsilon = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
    if node.get_attr_opt("spatial")?.unwrap_or(1i64) != 1 {
        bail!("BatchNormalization: attribute 'spatial' is not supported (deprecated by ONNX operator set 9)")
    }
    Ok((expand(BatchNorm { epsilon }), vec![]))
}

/// Inference-mode batch normalisation with constant parameters, wired as `x * slope + inter`
/// (per channel, NCHW), which tract then folds into the convolution before it.
#[derive(Debug, Clone)]
struct BatchNorm {
    epsilon: f32,
}

impl Expansion for BatchNorm {
    fn name(&self) -> StaticName {
        "BatchNorm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 5)?;
        check_output_arity(outputs, 1)?;
        s.equals_all(tract_onnx::tract_hir::wrap!(
            &outputs[0].datum_type,
            &inputs[0].datum_type,
            &inputs[1].datum_type,
            &inputs[2].datum_type,
            &inputs[3].datum_type,
            &inputs[4].datum_type
        ))?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        s.equals_all(tract_onnx::tract_hir::wrap!(&inputs[1].shape, &inputs[2].shape, &inputs[3].shape, &inputs[4].shape))?;
        s.given(&inputs[0].shape, move |s, shape| {
            let shape = nn::DataFormat::NCHW.shape(shape)?;
            s.equals(&inputs[1].shape[0], shape.c_dim())
        })?;
        Ok(())
    }

    fn wire(&self, prefix: &str, target: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let x = target.outlet_fact(inputs[0])?.clone();
        let konst = |i: usize| -> TractResult<Arc<Tensor>> {
            target.outlet_fact(inputs[i])?.konst.clone().with_context(|| format!("{prefix}: BatchNormalization parameters must be constants"))
        };
        let (scale, beta, mean, var) = (konst(1)?, konst(2)?, konst(3)?, konst(4)?);
        if x.datum_type != f32::datum_type() {
            bail!("{prefix}: BatchNormalization of {:?}, exitwise runs f32", x.datum_type);
        }
        let x_shape = x.shape.to_tvec();
        let shape = nn::DataFormat::NCHW.shape(&x_shape)?;
        let (c_axis, c_dim) = (shape.c_axis(), shape.c_dim().to_usize()?);
        let view = |t: &Tensor| -> TractResult<Vec<f32>> {
            let v = t.to_plain_array_view::<f32>()?;
            if v.len() != c_dim {
                bail!("{prefix}: BatchNormalization parameter of {} values for {c_dim} channels", v.len());
            }
            Ok(v.iter().copied().collect())
        };
        let (scale, beta, mean, var) = (view(&scale)?, view(&beta)?, view(&mean)?, view(&var)?);
        // Same arithmetic, in the same order, as tract-onnx's BatchNorm (ndarray, f32).
        let denominator: Vec<f32> = var.iter().map(|v| (v + self.epsilon).sqrt()).collect();
        let slope: Vec<f32> = scale.iter().zip(&denominator).map(|(s, d)| s / d).collect();
        let inter: Vec<f32> = (0..c_dim).map(|c| beta[c] - (mean[c] * scale[c]) / denominator[c]).collect();
        let mut const_shape = tvec!(1; x_shape.len());
        const_shape[c_axis] = c_dim;
        let slope = tensor1(&slope).into_shape(&const_shape)?;
        let inter = tensor1(&inter).into_shape(&const_shape)?;
        let slope = target.add_const(prefix.to_string() + ".slope", slope)?;
        let inter = target.add_const(prefix.to_string() + ".inter", inter)?;
        let wire = target.wire_node(format!("{prefix}.mul"), ops::math::mul(), &[slope, inputs[0]])?;
        target.wire_node(prefix, ops::math::add(), &[inter, wire[0]])
    }
}
