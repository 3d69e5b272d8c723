// Strided copy along one axis, for concatenation (scatter into a slot) and downsampling
// (gather every `stride`-th row). Both tensors are seen as [outer, ·, inner]; thread `idx`
// walks [outer, len, inner] and moves src[o, src_off + a·stride, i] to dst[o, dst_off + a, i].
// Params: total, len, inner, src_len, src_off, stride, dst_len, dst_off.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

// 256 threads: a plain copy, bandwidth-bound.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 256u);
    if (idx >= prm(0u)) { return; }
    let len = prm(1u); let inner = prm(2u);
    let i = idx % inner;
    let a = (idx / inner) % len;
    let o = idx / (inner * len);
    let src = (o * prm(3u) + prm(4u) + a * prm(5u)) * inner + i;
    Y[(o * prm(6u) + prm(7u) + a) * inner + i] = X[src];
}
