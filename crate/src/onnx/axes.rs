//! Squeeze, Unsqueeze and Split: their axes / sizes move from attributes to inputs at opset 13.

use super::Built;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::array;

fn isizes(t: &Tensor) -> TractResult<TVec<isize>> {
    Ok(t.cast_to::<i64>()?.try_as_plain_ram()?.as_slice::<i64>()?.iter().map(|&i| i as isize).collect())
}

fn const_input(model: &TypedModel, outlet: OutletId, what: &str) -> TractResult<Arc<Tensor>> {
    model.outlet_fact(outlet)?.konst.clone().with_context(|| format!("Need {what} to be a constant"))
}

pub fn squeeze(ctx: &ParsingContext, node: &NodeProto) -> Built {
    if ctx.onnx_operator_set_version < 13 {
        let axes = node.get_attr_vec::<i64>("axes")?.into_iter().map(|x| x as isize).collect();
        Ok((expand(array::Squeeze::new(Some(axes))), vec![]))
    } else {
        Ok((expand(Squeeze13), vec![]))
    }
}

/// The unit axes of `shape` (Squeeze without axes).
fn unit_axes(shape: &[TDim]) -> TVec<isize> {
    shape.iter().enumerate().filter(|(_, d)| d.is_one()).map(|(i, _)| i as isize).collect()
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Squeeze13;

impl Expansion for Squeeze13 {
    fn name(&self) -> StaticName {
        "Squeeze13".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        if inputs.is_empty() {
            bail!("Wrong input number. Rules expect at least 1, node has 0.");
        }
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        if inputs.len() == 2 {
            s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, axes| {
                let out = array::Squeeze::new(Some(isizes(&axes)?.into_vec())).output_shape(&shape)?;
                s.equals(&outputs[0].shape, out)
            })
        } else {
            s.given(&inputs[0].shape, move |s, shape| {
                let out = array::Squeeze::new(Some(unit_axes(&shape).into_vec())).output_shape(&shape)?;
                s.equals(&outputs[0].shape, out)
            })
        }
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let axes = match inputs.get(1) {
            Some(&a) => isizes(&*const_input(model, a, "axes")?)?,
            None => unit_axes(&model.outlet_fact(inputs[0])?.shape.to_tvec()),
        };
        array::Squeeze::new(Some(axes.into_vec())).wire(prefix, model, &inputs[0..1])
    }
}

pub fn unsqueeze(ctx: &ParsingContext, node: &NodeProto) -> Built {
    if ctx.onnx_operator_set_version < 13 {
        let axes = node.get_attr_vec::<i64>("axes")?.into_iter().map(|x| x as isize).collect();
        Ok((expand(array::AddDims::new(axes)), vec![]))
    } else {
        Ok((expand(Unsqueeze13), vec![]))
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Unsqueeze13;

impl Expansion for Unsqueeze13 {
    fn name(&self) -> StaticName {
        "Unsqueeze13".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, axes| {
            let out = array::AddDims::new(isizes(&axes)?.into_vec()).output_shape(&shape);
            s.equals(&outputs[0].shape, out)
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let axes = isizes(&*const_input(model, inputs[1], "axes")?)?;
        array::AddDims::new(axes.into_vec()).wire(prefix, model, &inputs[0..1])
    }
}

pub fn split(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let axis = node.get_attr_opt("axis")?.unwrap_or(0);
    if ctx.onnx_operator_set_version < 13 || node.input.len() == 1 {
        let split = node.get_attr_opt_vec("split")?;
        Ok((expand(array::Split::new(axis, node.output.len(), split)), vec![]))
    } else {
        Ok((expand(Split13 { axis, outputs: node.output.len() }), vec![]))
    }
}

/// Split with its sizes as an input (opset ≥ 13).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Split13 {
    axis: isize,
    outputs: usize,
}

impl Split13 {
    fn axis_for(&self, rank: usize) -> usize {
        (self.axis + if self.axis < 0 { rank as isize } else { 0 }) as usize
    }
}

impl Expansion for Split13 {
    fn name(&self) -> StaticName {
        "Split13".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        for o in outputs {
            s.equals(&inputs[0].rank, &o.rank)?;
            s.equals(&inputs[0].datum_type, &o.datum_type)?;
        }
        s.given(&inputs[0].rank, move |s, rank| {
            let axis = self.axis_for(rank as usize);
            for a in (0..rank as usize).filter(|&a| a != axis) {
                for o in outputs {
                    s.equals(&inputs[0].shape[a], &o.shape[a])?;
                }
            }
            Ok(())
        })?;
        s.given_2(&inputs[0].shape, &inputs[1].value, move |s, shape, splits| {
            let splits = splits.cast_to::<TDim>()?;
            let splits = splits.try_as_plain_ram()?.as_slice::<TDim>()?;
            let axis = self.axis_for(shape.len());
            for (o, dim) in outputs.iter().zip(splits.iter()) {
                s.equals(&o.shape[axis], dim)?;
            }
            Ok(())
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let splits = const_input(model, inputs[1], "splits")?;
        let axis = self.axis_for(model.outlet_fact(inputs[0])?.rank());
        let splits: Vec<usize> = splits.cast_to::<i64>()?.try_as_plain_ram()?.as_slice::<i64>()?.iter().map(|&i| i as usize).collect();
        array::Split::new(axis as isize, splits.len(), Some(splits)).wire(prefix, model, &inputs[0..1])
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.outputs)
    }
}
