// Softmax along one axis, seen as [outer, len, inner]. Params: total (outer · inner), len, inner.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

// 64 threads: one per softmax row; rows are class vectors, a handful per image.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    if (idx >= prm(0u)) { return; }
    let len = prm(1u); let inner = prm(2u);
    let base = (idx / inner) * len * inner + idx % inner;
    // Subtract the max first so exp never overflows.
    var m = X[base];
    for (var k = 1u; k < len; k++) { m = max(m, X[base + k * inner]); }
    var s = 0.0;
    for (var k = 0u; k < len; k++) { s += exp(X[base + k * inner] - m); }
    for (var k = 0u; k < len; k++) { Y[base + k * inner] = exp(X[base + k * inner] - m) / s; }
}
