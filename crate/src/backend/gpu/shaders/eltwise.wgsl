// Binary element-wise ops with numpy broadcasting, rank ≤ 6: broadcast axes have stride 0.
// Params: total, rank, op, out dims[6], a strides[6], b strides[6].
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> Bv: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

fn apply(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 0u: { return a + b; }
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        case 4u: { return max(a, b); }
        default: { return min(a, b); }
    }
}

// 256 threads: pure bandwidth, no reuse, so the largest portable group keeps the most loads in flight.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 256u);
    if (idx >= prm(0u)) { return; }
    let rank = prm(1u);
    var rest = idx;
    var ia = 0u;
    var ib = 0u;
    for (var d = 0u; d < rank; d++) {
        let axis = rank - 1u - d;
        let dim = prm(3u + axis);
        let i = rest % dim;
        rest = rest / dim;
        ia += i * prm(9u + axis);
        ib += i * prm(15u + axis);
    }
    Y[idx] = apply(prm(2u), A[ia], Bv[ib]);
}
