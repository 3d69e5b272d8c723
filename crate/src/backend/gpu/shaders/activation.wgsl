// Unary element-wise ops. Params: total, op (0 sigmoid, 1 reciprocal: tract rewrites a / b as
// a · recip(b)).
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

fn sigmoid(x: f32) -> f32 {
    // exp of a non-positive argument only, so large |x| saturates instead of overflowing.
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

// 256 threads: bandwidth-bound like the binary ops.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 256u);
    if (idx >= prm(0u)) { return; }
    let x = X[idx];
    Y[idx] = select(sigmoid(x), 1.0 / x, prm(1u) == 1u);
}
