// Prepended to every kernel: the parameter block and the flat thread index.
// Parameters are u32s packed in vec4s because uniform arrays need a 16-byte element stride.
struct Params { v: array<vec4<u32>, 8> }
@group(0) @binding(0) var<uniform> P: Params;

fn prm(i: u32) -> u32 {
    return P.v[i / 4u][i % 4u];
}

// Grids wider than 65535 workgroups spill into y (the per-dimension dispatch limit).
fn flat(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg;
}
