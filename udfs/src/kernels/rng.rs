//! SplitMix64: the one seeded generator behind every split, sample, shuffle
//! and search in Quarry.
//!
//! Written here rather than taken from `rand`: a seed must mean the same model
//! in every release and on every cluster worker, and `rand`'s generators and
//! sampling algorithms are free to change between its versions. SplitMix64
//! (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! OOPSLA 2014) is a few lines, passes BigCrush, and its sequence is fixed.
//!
//! | method          | draws                                                      |
//! |-----------------|------------------------------------------------------------|
//! | `next_u64`      | the next 64-bit output                                      |
//! | `uniform`       | a float in [0, 1) from the top 53 bits                      |
//! | `shuffle`       | Fisher–Yates from the back: one draw per position, n − 1 draws |
//! | `choose_front`  | a uniform k-subset moved to the front: k draws (partial Fisher–Yates) |
//!
//! The draw order is part of the contract: a trained model depends on it.

/// SplitMix64 with its state exposed, so a seed is the state.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `0..n` (`n > 0`), by the modulo of one draw: the
    /// bias is below 2⁻⁴⁰ for any `n` a data set has, and the rule is fixed.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Shuffles `items` in place (Fisher–Yates, from the last position down).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// Moves a uniformly drawn subset of `k` items (all of them when
    /// `k >= items.len()`) to the front, in draw order.
    pub fn choose_front<T>(&mut self, items: &mut [T], k: usize) {
        let n = items.len();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_splitmix64() {
        // First outputs for seed 0 from the reference implementation
        // (https://prng.di.unimi.it/splitmix64.c).
        let mut rng = SplitMix(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn uniform_is_in_the_unit_interval() {
        let mut rng = SplitMix(7);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn shuffle_permutes_and_follows_the_draws() {
        let mut items: Vec<usize> = (0..50).collect();
        SplitMix(3).shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(items, sorted);
        // The same as swapping with `next_u64() % (i + 1)` from the back.
        let mut by_hand: Vec<usize> = (0..50).collect();
        let mut rng = SplitMix(3);
        for i in (1..50).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            by_hand.swap(i, j);
        }
        assert_eq!(items, by_hand);
    }

    #[test]
    fn choose_front_draws_a_subset_of_k() {
        let mut items: Vec<usize> = (0..20).collect();
        SplitMix(5).choose_front(&mut items, 6);
        let mut front = items[..6].to_vec();
        front.sort_unstable();
        front.dedup();
        assert_eq!(front.len(), 6);
        let mut all = items.clone();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        // k beyond the length shuffles the whole slice without panicking.
        let mut few = vec![1, 2, 3];
        SplitMix(5).choose_front(&mut few, 10);
        few.sort_unstable();
        assert_eq!(few, vec![1, 2, 3]);
    }
}
