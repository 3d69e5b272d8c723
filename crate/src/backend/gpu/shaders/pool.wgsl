// 2-D pooling over NCHW. Params: total, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr,
// mode (0 max, 1 sum, 2 mean over taps inside the input, 3 mean over taps inside the padding).
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;

// 64 threads: each does a whole window, so groups stay small like conv's.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat(gid, nwg, 64u);
    if (idx >= prm(0u)) { return; }
    let h = i32(prm(1u)); let w = i32(prm(2u));
    let oh = prm(3u); let ow = prm(4u);
    let kh = prm(5u); let kw = prm(6u);
    let sh = prm(7u); let sw = prm(8u); let dh = prm(9u); let dw = prm(10u);
    let pt = i32(prm(11u)); let pl = i32(prm(12u)); let pb = i32(prm(13u)); let pr = i32(prm(14u));
    let mode = prm(15u);
    let ox = idx % ow;
    let oy = (idx / ow) % oh;
    let plane = idx / (ow * oh);
    let base = plane * u32(h * w);
    // -f32 max, written as bits: browsers (Tint) reject the rounded decimal -3.4028235e38 as
    // out of f32 range.
    var acc = select(0.0, bitcast<f32>(0xff7fffffu), mode == 0u);
    var inside = 0u;
    var padded = 0u;
    for (var ky = 0u; ky < kh; ky++) {
        let iy = i32(oy * sh + ky * dh) - pt;
        for (var kx = 0u; kx < kw; kx++) {
            let ix = i32(ox * sw + kx * dw) - pl;
            if (iy >= -pt && iy < h + pb && ix >= -pl && ix < w + pr) { padded++; }
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) { continue; }
            inside++;
            let v = X[base + u32(iy * w + ix)];
            acc = select(acc + v, max(acc, v), mode == 0u);
        }
    }
    if (mode == 2u) { acc = acc / f32(max(inside, 1u)); }
    if (mode == 3u) { acc = acc / f32(max(padded, 1u)); }
    Y[idx] = acc;
}
