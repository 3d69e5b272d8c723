// Batched matrix product with arbitrary strides: Y[b, m, n] = Σ_k A[b, m, k] · B[b, n, k].
// Strides (0 for an absent or broadcast axis) let one kernel serve every 2-input EinSum
// tract produces from MatMul / Gemm, whatever the transposition.
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> Bm: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;

// 64 threads along n: the heads here are narrow (10 classes), so bigger groups idle.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    let total = prm(0u);
    if (idx >= total) { return; }
    let m_len = prm(1u); let n_len = prm(2u); let k_len = prm(3u);
    let n = idx % n_len;
    let m = (idx / n_len) % m_len;
    let b = idx / (n_len * m_len);
    var ia = b * prm(4u) + m * prm(5u);
    var ib = b * prm(7u) + n * prm(8u);
    let sak = prm(6u); let sbk = prm(9u);
    var acc = 0.0;
    for (var k = 0u; k < k_len; k++) {
        acc += A[ia] * Bm[ib];
        ia += sak;
        ib += sbk;
    }
    Y[b * prm(10u) + m * prm(11u) + n * prm(12u)] = acc;
}
