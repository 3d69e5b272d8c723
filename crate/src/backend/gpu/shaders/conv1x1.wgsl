// 1×1 convolution, stride 1, no padding, one group: a per-image matrix product
// Y[n, co, p] = B[co] + Σ_ci W[co, ci] · X[n, ci, p], with none of the window arithmetic.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

// 64 threads along the pixel axis: neighbouring threads read neighbouring X values.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    let total = prm(0u);
    if (idx >= total) { return; }
    let cin = prm(1u); let hw = prm(2u); let cout = prm(3u);
    let p = idx % hw;
    let co = (idx / hw) % cout;
    let n = idx / (hw * cout);
    var acc = B[co];
    let xbase = n * cin * hw + p;
    let wbase = co * cin;
    for (var ci = 0u; ci < cin; ci++) {
        acc += X[xbase + ci * hw] * W[wbase + ci];
    }
    Y[idx] = acc;
}
