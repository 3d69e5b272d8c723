//! MAC counting from the graph itself, with tract's cost model: the sum of the `FMA` costs of the
//! convolutions and matrix products (`Conv`, `EinSum`) of the decluttered graph, for batch 1.
//! Element-wise ops, pooling and activations are not counted. 1 MAC = 2 FLOPs.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::Cost;

pub fn count_macs(graph: &TypedModel, batch: &Symbol) -> TractResult<u64> {
    let one = SymbolValues::default().with(batch, 1);
    let mut total: u64 = 0;
    for node in graph.nodes() {
        if node.op_as::<Conv>().is_none() && node.op_as::<EinSum>().is_none() {
            continue;
        }
        let inputs = graph.node_input_facts(node.id)?;
        for (cost, n) in node.op.cost(&inputs)? {
            if let Cost::FMA(_) = cost {
                let n = n.eval_to_i64(&one)?;
                total = total.saturating_add(u64::try_from(n).unwrap_or(0));
            }
        }
    }
    Ok(total)
}
