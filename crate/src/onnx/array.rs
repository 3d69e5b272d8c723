//! Constants and shape ops: Constant, Identity, Concat, ConstantOfShape, Flatten, Gather,
//! Reshape, Transpose, Slice, Pad.

use super::{optional_input, Built};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::array;

/// The `value` forms exitwise admits (a tensor, or one float / int / list of them).
pub fn constant(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let value = if let Some(v) = node.get_attr_opt("value")? {
        ctx.load_tensor(v)?
    } else if let Some(i) = node.get_attr_opt::<i64>("value_int")? {
        tensor0(i)
    } else if let Some(v) = node.get_attr_opt::<f32>("value_float")? {
        tensor0(v)
    } else if let Some(ints) = node.get_attr_opt_slice::<i64>("value_ints")? {
        tensor1(ints)
    } else if let Some(floats) = node.get_attr_opt_slice::<f32>("value_floats")? {
        tensor1(floats)
    } else {
        bail!("Constant node without a numeric value")
    };
    Ok((Box::new(tract_onnx::tract_hir::ops::konst::Const::new(value.into_arc_tensor())?), vec![]))
}

pub fn identity(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((Box::<tract_onnx::tract_hir::ops::identity::Identity>::default(), vec![]))
}

pub fn concat(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((expand(array::Concat::new(node.get_attr("axis")?)), vec![]))
}

pub fn constant_of_shape(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let mut value = match node.get_attr_opt("value")? {
        Some(val) => ctx.load_tensor(val)?.into_arc_tensor(),
        None => rctensor0(0.0),
    };
    if value.rank() > 0 {
        if value.len() != 1 {
            bail!("Expected scalar (or vector of length 1), got {:?}", value);
        }
        value = value.nth(0)?.into_arc_tensor();
    }
    Ok((expand(array::ConstantOfShape::new(value)), vec![]))
}

pub fn flatten(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((expand(array::Flatten::new(node.get_attr_opt("axis")?.unwrap_or(1i64))), vec![]))
}

pub fn gather(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((expand(array::Gather::new(node.get_attr_opt("axis")?.unwrap_or(0))), vec![]))
}

pub fn reshape(_: &ParsingContext, node: &NodeProto) -> Built {
    // `allowzero` arrived in opset 14; absent, it is 0.
    let allowzero = node.get_attr_opt::<i64>("allowzero")?.unwrap_or(0) != 0;
    Ok((expand(array::Reshape::new(allowzero)), vec![]))
}

pub fn transpose(_: &ParsingContext, node: &NodeProto) -> Built {
    let perm = node.get_attr_opt_vec("perm")?;
    Ok((expand(array::PermuteAxes::new(perm.map(|t| t.into()))), vec![]))
}

/// Opset ≥ 10: starts, ends, then optional axes and steps inputs.
pub fn slice(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((
        Box::new(array::StridedSlice {
            begin_mask: 0,
            end_mask: 0,
            shrink_axis_mask: 0,
            optional_axes_input: optional_input(node, 3),
            optional_steps_input: optional_input(node, 4),
        }),
        vec![],
    ))
}

/// Opset ≥ 11, constant mode: pads (and optional constant value and axes) are inputs.
pub fn pad(_: &ParsingContext, node: &NodeProto) -> Built {
    let mode = match node.get_attr_opt::<&str>("mode")? {
        None | Some("constant") => array::PadMode::Constant(Arc::new(0f32.into())),
        Some("reflect") => array::PadMode::Reflect,
        Some("edge") => array::PadMode::Edge,
        Some(other) => bail!("Unsupported Pad mode {other}"),
    };
    Ok((expand(Pad18 { mode, constant_input: optional_input(node, 2), axes_input: optional_input(node, 3) }), vec![]))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Pad18 {
    mode: array::PadMode,
    constant_input: Option<usize>,
    axes_input: Option<usize>,
}

/// Axes as non-negative positions for a tensor of `rank`; out of range is an error (tract-onnx
/// cast them unchecked, and a huge position panics when tract's solver indexes a shape with it).
fn positions(axes: &Tensor, rank: i64) -> TractResult<Vec<usize>> {
    let axes = axes.cast_to::<i64>()?;
    let axes = axes.try_as_plain_ram()?;
    axes.as_slice::<i64>()?
        .iter()
        .map(|&x| match if x < 0 { x + rank } else { x } {
            p if (0..rank).contains(&p) => Ok(p as usize),
            _ => bail!("Pad axis {x} out of range for rank {rank}"),
        })
        .collect()
}

fn pad_shape<'r, 'p: 'r>(s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy], axes: Vec<usize>) -> InferenceResult {
    s.given(&inputs[1].value, move |s, pads| {
        let pads = pads.cast_to::<TDim>()?;
        let pads = pads.try_as_plain_ram()?.as_slice::<TDim>()?;
        let rank = pads.len() / 2;
        for (ix, axis) in axes.iter().enumerate() {
            // Checked: the pads are the model's data (admission has matched them to the axes).
            let (Some(left), Some(right)) = (pads.get(ix), pads.get(ix + rank)) else { bail!("Pad: {} pads for {} axes", pads.len(), axes.len()) };
            s.equals(&outputs[0].shape[*axis], inputs[0].shape[*axis].bex() + left.clone() + right.clone())?;
        }
        Ok(())
    })
}

impl Expansion for Pad18 {
    fn name(&self) -> StaticName {
        "Pad".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 2 + self.constant_input.is_some() as usize + self.axes_input.is_some() as usize)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].rank, &outputs[0].rank)?;
        s.equals(&inputs[1].rank, 1)?;
        if let Some(constant) = self.constant_input {
            s.equals(&inputs[0].datum_type, &inputs[constant].datum_type)?;
            s.equals(&inputs[constant].rank, 0)?;
        }
        if let Some(axes) = self.axes_input {
            s.equals(&inputs[axes].rank, 1)?;
            s.equals(&inputs[1].shape[0], 2 * inputs[axes].shape[0].bex())?;
            s.given_2(&inputs[0].rank, &inputs[axes].value, move |s, rank, axes| pad_shape(s, inputs, outputs, positions(&axes, rank)?))
        } else {
            s.equals(&inputs[1].shape[0], 2 * inputs[0].rank.bex().to_dim())?;
            s.given(&inputs[0].rank, move |s, rank| pad_shape(s, inputs, outputs, (0..rank as usize).collect()))
        }
    }

    fn wire(&self, name: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let mode = match self.constant_input {
            Some(c) => array::PadMode::Constant(model.outlet_fact(inputs[c])?.konst.clone().context("Pad constant input must be constant")?),
            None => self.mode.clone(),
        };
        let rank = model.outlet_fact(inputs[0])?.rank();
        let axes = match self.axes_input {
            Some(a) => positions(model.outlet_fact(inputs[a])?.konst.as_ref().context("Axes must be a constant")?, rank as i64)?,
            None => (0..rank).collect(),
        };
        let pads = model.outlet_fact(inputs[1])?.konst.as_ref().context("Expect padding to be constant")?.cast_to::<i64>()?.into_owned();
        let pads = pads.try_as_plain_ram()?.as_slice::<i64>()?;
        let mut fixed = vec![(0, 0); rank];
        for (ix, &axis) in axes.iter().enumerate() {
            let (l, r) = (pads.get(ix), pads.get(ix + pads.len() / 2));
            let (Some(&l), Some(&r), Some(slot)) = (l, r, fixed.get_mut(axis)) else { bail!("{name}: pads do not match the axes") };
            *slot = (l as usize, r as usize);
        }
        model.wire_node(name, array::Pad { mode, pads: fixed }, &inputs[0..1])
    }
}
