//! Element-wise arithmetic, Clip, Gemm and MatMul.

use super::{optional_input, Built};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops;
use tract_onnx::tract_hir::ops::binary::Nary;
use tract_onnx::tract_hir::ops::logic::wire_with_rank_broadcast;

pub fn add(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::Add.into_hir(), vec![]))
}

pub fn sub(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::Sub.into_hir(), vec![]))
}

pub fn mul(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::Mul.into_hir(), vec![]))
}

pub fn div(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::Div.into_hir(), vec![]))
}

pub fn max(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((Box::new(Nary(Box::new(ops::math::Max), false)), vec![]))
}

pub fn min(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((Box::new(Nary(Box::new(ops::math::Min), false)), vec![]))
}

pub fn erf(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::erf().into_hir(), vec![]))
}

pub fn reciprocal(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((ops::math::recip().into_hir(), vec![]))
}

pub fn matmul(_: &ParsingContext, _: &NodeProto) -> Built {
    Ok((expand(ops::matmul::MatMulInference::default()), vec![]))
}

/// Opset ≥ 11: the bounds are optional inputs (an empty name skips one).
pub fn clip(_: &ParsingContext, node: &NodeProto) -> Built {
    Ok((expand(Clip11 { input_min: optional_input(node, 1), input_max: optional_input(node, 2) }), vec![]))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Clip11 {
    input_min: Option<usize>,
    input_max: Option<usize>,
}

impl Expansion for Clip11 {
    fn name(&self) -> StaticName {
        "Clip".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, 1 + self.input_min.is_some() as usize + self.input_max.is_some() as usize)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(&self, name: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        let mut wire = inputs[0];
        for (k, bound, op) in [(self.input_min, "min", ops::math::max()), (self.input_max, "max", ops::math::min())] {
            let Some(k) = k else { continue };
            let mut b = inputs[k];
            if model.outlet_fact(b)?.datum_type != dt {
                b = model.wire_node(format!("{name}.{bound}.cast"), tract_onnx::tract_core::ops::cast::cast(dt), &[b])?[0];
            }
            wire = wire_with_rank_broadcast(format!("{name}.{bound}"), model, op, &[wire, b])?[0];
        }
        Ok(tvec!(wire))
    }
}

pub fn gemm(_: &ParsingContext, node: &NodeProto) -> Built {
    let gemm = Gemm {
        alpha: node.get_attr_opt("alpha")?.unwrap_or(1.),
        beta: node.get_attr_opt("beta")?.unwrap_or(1.),
        trans_a: node.get_attr_opt("transA")?.unwrap_or(false),
        trans_b: node.get_attr_opt("transB")?.unwrap_or(false),
    };
    Ok((expand(gemm), vec![]))
}

/// `alpha · op(A) · op(B) + beta · C`, as an einsum plus element-wise scaling.
#[derive(Debug, Clone)]
struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

impl Expansion for Gemm {
    fn name(&self) -> StaticName {
        "Gemm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        if inputs.len() < 2 {
            bail!("Wrong input number. Rules expect at least 2, node has {}.", inputs.len());
        }
        if inputs.len() == 3 {
            s.equals(&inputs[2].datum_type, &outputs[0].datum_type)?;
        }
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&inputs[1].rank, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[1].datum_type, &outputs[0].datum_type)?;
        let (ca, ra) = if self.trans_a { (0, 1) } else { (1, 0) };
        let (cb, rb) = if self.trans_b { (0, 1) } else { (1, 0) };
        s.equals(&inputs[0].shape[ra], &outputs[0].shape[0])?;
        s.equals(&inputs[0].shape[ca], &inputs[1].shape[rb])?;
        s.equals(&inputs[1].shape[cb], &outputs[0].shape[1])?;
        Ok(())
    }

    fn wire(&self, name: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let (a, b) = (inputs[0], inputs[1]);
        let axes = AxesMapping::for_numpy_matmul(2, self.trans_a, self.trans_b, false)?;
        let mut wire = model.wire_node(format!("{name}.ab"), EinSum::new(axes, model.outlet_fact(a)?.datum_type), [a, b].as_ref())?[0];
        if self.alpha != 1.0 {
            let alpha = tensor0(self.alpha).broadcast_into_rank(model.outlet_fact(wire)?.rank())?;
            let alpha = model.add_const(name.to_string() + ".alpha_ab.cst", alpha)?;
            wire = model.wire_node(name.to_string() + ".alpha_ab", ops::math::mul(), &[alpha, wire])?[0];
        }
        if let (true, Some(&c)) = (self.beta != 0.0, inputs.get(2)) {
            let mut c = c;
            while model.outlet_fact(wire)?.rank() > model.outlet_fact(c)?.rank() {
                c = model.wire_node(format!("{}.c_add_axis_{}", name, model.outlet_fact(c)?.rank()), AxisOp::Add(0), &[c])?[0];
            }
            let beta = tensor0(self.beta).broadcast_into_rank(model.outlet_fact(wire)?.rank())?;
            let beta = model.add_const(name.to_string() + ".beta_c.cst", beta)?;
            let beta_c = model.wire_node(name.to_string() + ".beta_c", ops::math::mul(), &[beta, c])?[0];
            wire = model.wire_node(name, ops::math::add(), &[wire, beta_c])?[0];
        }
        Ok(tvec!(wire))
    }
}
