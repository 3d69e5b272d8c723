//! A small deterministic generator (SplitMix64). Every execution gets its own generator from
//! (seed, target, index), so any case regenerates on its own: no state carries between cases.

#[derive(Debug, Clone)]
pub struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed ^ 0x5851_f42d_4c95_7f2d))
    }

    /// The generator of case `index` of `target` under `seed`.
    pub fn for_case(seed: u64, target: &str, index: u64) -> Rng {
        let t = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        Rng::new(mix(seed) ^ mix(t).rotate_left(17) ^ mix(index.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index into `weights` drawn in proportion to them.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

/// Edge values for integers: what hostile files put in counts, dims, axes and attributes.
pub const EDGE_INTS: &[i64] = &[
    0, 1, -1, 2, -2, 3, 7, 64, 255, 256, 1 << 15, 65535, 65536, (1 << 31) - 1, 1 << 31, -(1 << 31), 1 << 32,
    (1 << 32) - 1, 1 << 40, 1 << 53, i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1, 1 << 62,
];

impl Rng {
    /// An edge integer, or a small one near `near`.
    pub fn edge_int(&mut self, near: i64) -> i64 {
        match self.below(4) {
            0 => near.wrapping_add(self.range(0, 4) as i64 - 2),
            1 => -near,
            _ => *self.pick(EDGE_INTS),
        }
    }
}
