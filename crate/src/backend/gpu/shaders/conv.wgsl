// Direct convolution, NCHW, OIHW weights, any stride / padding / dilation / group.
// Each thread computes CB = 4 output channels of one pixel (register blocking): every input
// value it loads serves four weights, which quarters the loads and the window arithmetic.
// The host uses this kernel only when Cout/G is a multiple of 4 and falls back to CB = 1 by
// passing `cb` = 1. Params: total, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl,
// groups, cb.
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;

// 64 threads: a multiple of every vendor's SIMD width (32/64) without starving small layers.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    if (idx >= prm(0u)) { return; }
    let cin = prm(1u); let h = prm(2u); let w = prm(3u);
    let cout = prm(4u); let oh = prm(5u); let ow = prm(6u);
    let kh = prm(7u); let kw = prm(8u);
    let sh = prm(9u); let sw = prm(10u); let dh = prm(11u); let dw = prm(12u);
    let pt = i32(prm(13u)); let pl = i32(prm(14u)); let groups = prm(15u); let cb = prm(16u);
    // Threads walk [n, cout / cb, oh, ow].
    let ox = idx % ow;
    let oy = (idx / ow) % oh;
    let co = ((idx / (ow * oh)) % (cout / cb)) * cb;
    let n = idx / (ow * oh * (cout / cb));
    let cin_g = cin / groups;
    let g = co / (cout / groups);
    let ksz = kh * kw;
    // Channels past cb stay unused: their weight index is clamped to channel co.
    let c1 = select(co, co + 1u, cb > 1u);
    let c2 = select(co, co + 2u, cb > 2u);
    let c3 = select(co, co + 3u, cb > 3u);
    var acc = vec4<f32>(B[co], B[c1], B[c2], B[c3]);
    let wstep = vec4<u32>(co, c1, c2, c3) * cin_g * ksz;
    for (var ci = 0u; ci < cin_g; ci++) {
        let xbase = (n * cin + g * cin_g + ci) * h * w;
        let wci = wstep + vec4<u32>(ci * ksz);
        for (var ky = 0u; ky < kh; ky++) {
            let iy = i32(oy * sh + ky * dh) - pt;
            if (iy < 0 || iy >= i32(h)) { continue; }
            for (var kx = 0u; kx < kw; kx++) {
                let ix = i32(ox * sw + kx * dw) - pl;
                if (ix < 0 || ix >= i32(w)) { continue; }
                let x = X[xbase + u32(iy) * w + u32(ix)];
                let t = ky * kw + kx;
                acc += x * vec4<f32>(W[wci.x + t], W[wci.y + t], W[wci.z + t], W[wci.w + t]);
            }
        }
    }
    let plane = oh * ow;
    let out = (n * cout + co) * plane + oy * ow + ox;
    Y[out] = acc.x;
    if (cb > 1u) { Y[out + plane] = acc.y; }
    if (cb > 2u) { Y[out + 2u * plane] = acc.z; }
    if (cb > 3u) { Y[out + 3u * plane] = acc.w; }
}
