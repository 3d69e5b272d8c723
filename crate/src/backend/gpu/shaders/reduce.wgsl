// Reduction over one contiguous block of axes, seen as [outer, r, inner] -> [outer, inner].
// Params: total (outer · inner), r, inner, op (0 sum, 1 max, 2 min).
// Global average pooling arrives here as a sum over H·W followed by a multiply.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

// 64 threads: one per output, each reading a whole reduced run (H·W for global pooling).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    if (idx >= prm(0u)) { return; }
    let r = prm(1u); let inner = prm(2u); let op = prm(3u);
    let i = idx % inner;
    let o = idx / inner;
    var acc = X[o * r * inner + i];
    for (var k = 1u; k < r; k++) {
        let v = X[(o * r + k) * inner + i];
        switch op {
            case 0u: { acc += v; }
            case 1u: { acc = max(acc, v); }
            default: { acc = min(acc, v); }
        }
    }
    Y[idx] = acc;
}
