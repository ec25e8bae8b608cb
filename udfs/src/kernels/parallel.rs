//! Work split across the threads a session may use: scoped threads, no
//! pool and no spinning, so an idle server costs nothing and a statement never
//! uses more threads than its session was given (`datafusion.execution.target_partitions`).
//!
//! | function     | splits                         | result order |
//! |--------------|--------------------------------|--------------|
//! | `par_ranges` | `0..n` into contiguous ranges of at least 4096 rows | range order |
//! | `par_map`    | a slice of items into contiguous shares | item order |
//!
//! A panic in a worker is resumed on the caller's thread.

/// Runs `f` over `n` rows split into `threads` contiguous ranges and returns
/// the per-range results in order.
pub fn par_ranges<T: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    let threads = threads.clamp(1, 64).min(n.div_ceil(4096).max(1));
    if threads == 1 {
        return vec![f(0..n)];
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                let f = &f;
                scope.spawn(move || f(range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f` over `items` on up to `threads` scoped threads (contiguous shares),
/// results in item order: for a few large work items (features, row
/// chunks) where `par_ranges`' minimum chunk would keep them on one thread.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, 64).min(items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_ranges_cover_every_row_once() {
        let sums = par_ranges(10_000, 3, |r| r.map(|i| i as u64).sum::<u64>());
        assert_eq!(sums.into_iter().sum::<u64>(), (0..10_000u64).sum::<u64>());
    }

    #[test]
    fn par_map_keeps_item_order() {
        let items: Vec<u32> = (0..37).collect();
        assert_eq!(
            par_map(&items, 4, |v| v * 2),
            (0..37).map(|v| v * 2).collect::<Vec<_>>()
        );
        assert!(par_map(&[] as &[u32], 4, |v| *v).is_empty());
    }
}
