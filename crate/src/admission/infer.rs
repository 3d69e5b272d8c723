//! Per-op rules: each checks a node's attributes and input shapes and gives its outputs'
//! shapes (batch 1). One arm per entry of `crate::ops::OPS`.

use super::node::Node;
use super::value::{broadcast, Val};
use super::{array, nn};
use crate::error::Result;

/// A node's outputs and the scratch bytes it needs while it runs (im2col).
pub struct Outs {
    pub vals: Vec<Val>,
    pub scratch: u64,
}

impl From<Val> for Outs {
    fn from(v: Val) -> Outs {
        Outs { vals: vec![v], scratch: 0 }
    }
}

pub fn infer(n: &Node) -> Result<Outs> {
    match n.at.node.op_type.as_str() {
        "Relu" | "Sigmoid" | "Erf" | "Reciprocal" => unary(n),
        "Add" | "Sub" | "Mul" | "Div" => variadic(n, 2, 2),
        "Max" | "Min" => variadic(n, 1, 64),
        "Clip" => clip(n),
        "Conv" => nn::conv(n),
        "MaxPool" => nn::pool(n, true),
        "AveragePool" => nn::pool(n, false),
        "GlobalAveragePool" | "GlobalMaxPool" => nn::global_pool(n),
        "BatchNormalization" => nn::batch_norm(n),
        "Gemm" => nn::gemm(n),
        "MatMul" => nn::matmul(n),
        "Softmax" => nn::softmax(n),
        "ReduceSum" => nn::reduce(n, 13),
        "ReduceMean" | "ReduceMax" | "ReduceMin" => nn::reduce(n, 18),
        "Identity" => array::identity(n),
        "Flatten" => array::flatten(n),
        "Reshape" => array::reshape(n),
        "Squeeze" => array::squeeze(n),
        "Unsqueeze" => array::unsqueeze(n),
        "Transpose" => array::transpose(n),
        "Concat" => array::concat(n),
        "Gather" => array::gather(n),
        "Slice" => array::slice(n),
        "Split" => array::split(n),
        "Pad" => array::pad(n),
        "ConstantOfShape" => array::constant_of_shape(n),
        "Constant" => array::constant(n),
        // Unreachable while every listed op has an arm (a test checks).
        _ => Err(n.at.unsupported("op_type", "listed but without an admission rule")),
    }
}

fn unary(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(1, 1, 1)?;
    Ok(n.out(n.data(0, "X")?.shape.clone())?.into())
}

/// Element-wise over `min..=max` inputs with numpy broadcasting.
fn variadic(n: &Node, min: usize, max: usize) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(min, max, 1)?;
    let mut shape = n.data(0, "A")?.shape.clone();
    for i in 1..n.ins.len() {
        let v = n.data(i, "B")?;
        shape = broadcast(&shape, &v.shape)
            .ok_or_else(|| n.at.bad("inputs", format!("shapes {shape:?} and {:?} do not broadcast", v.shape)))?;
    }
    Ok(n.out(shape)?.into())
}

fn clip(n: &Node) -> Result<Outs> {
    n.attrs().only(&[])?;
    n.arity(1, 3, 1)?;
    let x = n.data(0, "input")?;
    n.scalar(1, "min")?;
    n.scalar(2, "max")?;
    Ok(n.out(x.shape.clone())?.into())
}
