//! ReduceSum / Mean / Max / Min. ReduceSum takes its axes as an input from opset 13, the others
//! from opset 18; before that they are an attribute.

use super::Built;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::nn::{Reduce, Reducer};

pub fn reduce_sum(ctx: &ParsingContext, node: &NodeProto) -> Built {
    reduce(ctx, node, Reducer::Sum, 13)
}
pub fn reduce_mean(ctx: &ParsingContext, node: &NodeProto) -> Built {
    reduce(ctx, node, Reducer::Mean, 18)
}
pub fn reduce_max(ctx: &ParsingContext, node: &NodeProto) -> Built {
    reduce(ctx, node, Reducer::Max, 18)
}
pub fn reduce_min(ctx: &ParsingContext, node: &NodeProto) -> Built {
    reduce(ctx, node, Reducer::Min, 18)
}

fn reduce(ctx: &ParsingContext, node: &NodeProto, reducer: Reducer, axes_input_from: i64) -> Built {
    let keep_dims = node.get_attr_opt("keepdims")?.unwrap_or(1i64) == 1;
    if ctx.onnx_operator_set_version >= axes_input_from {
        let noop_with_empty_axes = node.get_attr_opt("noop_with_empty_axes")?.unwrap_or(0i64) == 1;
        Ok((expand(AxesInput { have_axis_input: node.input.len() == 2, keep_dims, noop_with_empty_axes, reducer }), vec![]))
    } else {
        let axes = node.get_attr_opt_vec("axes")?;
        Ok((expand(Reduce::new(axes, keep_dims, reducer)), vec![]))
    }
}

/// The axes-as-input form (tract-onnx's `ReduceSum13`).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct AxesInput {
    have_axis_input: bool,
    keep_dims: bool,
    noop_with_empty_axes: bool,
    reducer: Reducer,
}

impl AxesInput {
    /// The axes reduced when none are given.
    fn default_axes(&self, rank: i64) -> Vec<i64> {
        if self.noop_with_empty_axes { vec![] } else { (0..rank).collect() }
    }

    fn shape_rules<'r, 'p: 'r>(&self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy], axes: Vec<i64>) -> InferenceResult {
        let n_axes = axes.len() as i64;
        let op = Reduce::new(Some(axes), self.keep_dims, self.reducer);
        if self.keep_dims {
            s.equals(&inputs[0].rank, &outputs[0].rank)?;
        } else {
            s.equals(inputs[0].rank.bex() - n_axes, &outputs[0].rank)?;
        }
        s.given(&inputs[0].shape, move |s, shape| s.equals(&outputs[0].shape, op.output_shape(&shape)))
    }
}

impl Expansion for AxesInput {
    fn name(&self) -> StaticName {
        "Reduce13".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 1 + self.have_axis_input as usize)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        if self.have_axis_input {
            s.given_2(&inputs[0].rank, &inputs[1].value, move |s, rank, axes| {
                let mut axes = axes.cast_to::<i64>()?.try_as_plain_ram()?.as_slice::<i64>()?.to_vec();
                if axes.is_empty() {
                    axes = self.default_axes(rank);
                }
                self.shape_rules(s, inputs, outputs, axes)
            })
        } else {
            s.given(&inputs[0].rank, move |s, rank| self.shape_rules(s, inputs, outputs, self.default_axes(rank)))
        }
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let mut axes: Vec<i64> = if self.have_axis_input {
            model.outlet_fact(inputs[1])?.konst.as_ref().context("expected axes as a constant")?.try_as_plain_ram()?.as_slice::<i64>()?.to_vec()
        } else {
            vec![]
        };
        if axes.is_empty() {
            axes = self.default_axes(model.outlet_fact(inputs[0])?.rank() as i64);
        }
        Reduce::new(Some(axes), self.keep_dims, self.reducer).wire(prefix, model, &inputs[0..1])
    }
}
