//! Work spread over every core: an ordered parallel map whose results are consumed in input
//! order (the classifier needs the migrations in apply order) while later items are still being
//! prepared, and a chunked parallel map for one big input.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// How many threads to use: `MIGSAFE_THREADS` when set to a positive number, else every core.
pub fn threads() -> usize {
    std::env::var("MIGSAFE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

struct Window<R> {
    ready: BTreeMap<usize, R>,
    /// Items before this index have been consumed.
    consumed: usize,
    /// The consumer stopped early (it panicked): workers stop too.
    closed: bool,
}

/// Calls `prepare` on every item on worker threads and `consume(index, result)` on the calling
/// thread, in input order. At most `ahead` results wait to be consumed, which bounds the memory
/// held by prepared items. With one thread (or one item) everything runs on the calling thread.
pub fn ordered_map<T, R, P, C>(items: &[T], ahead: usize, prepare: P, mut consume: C)
where
    T: Sync,
    R: Send,
    P: Fn(&T) -> R + Sync,
    C: FnMut(usize, R),
{
    let workers = threads().min(items.len());
    if workers <= 1 {
        for (i, item) in items.iter().enumerate() {
            consume(i, prepare(item));
        }
        return;
    }
    let ahead = ahead.max(workers);
    let next = AtomicUsize::new(0);
    let state = Mutex::new(Window {
        ready: BTreeMap::new(),
        consumed: 0,
        closed: false,
    });
    let changed = Condvar::new();
    // a poisoned lock means another thread panicked; its panic is re-raised by the scope
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    {
                        let mut w = lock();
                        while !w.closed && i >= w.consumed + ahead {
                            w = changed.wait(w).unwrap_or_else(|e| e.into_inner());
                        }
                        if w.closed {
                            break;
                        }
                    }
                    let r = prepare(&items[i]);
                    let mut w = lock();
                    w.ready.insert(i, r);
                    changed.notify_all();
                }
            });
        }
        // closes the window if `consume` panics, so the workers do not wait forever
        struct Close<'a, R>(&'a Mutex<Window<R>>, &'a Condvar);
        impl<R> Drop for Close<'_, R> {
            fn drop(&mut self) {
                let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
                w.closed = true;
                self.1.notify_all();
            }
        }
        let _close = Close(&state, &changed);
        for i in 0..items.len() {
            let r = {
                let mut w = lock();
                loop {
                    if let Some(r) = w.ready.remove(&i) {
                        w.consumed = i + 1;
                        changed.notify_all();
                        break r;
                    }
                    w = changed.wait(w).unwrap_or_else(|e| e.into_inner());
                }
            };
            consume(i, r);
        }
    });
}

/// Maps `items` in contiguous chunks on every core and concatenates the results in order.
/// Used for one big input (a file of many statements); small inputs stay on the calling thread.
pub fn chunked_map<T, R, F>(items: &[T], min_per_thread: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &T) -> R + Sync,
{
    let workers = threads().min(items.len() / min_per_thread.max(1)).max(1);
    if workers <= 1 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let per = items.len().div_ceil(workers);
    let parts: Vec<Vec<R>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .enumerate()
            .map(|(c, chunk)| {
                let f = &f;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(k, t)| f(c * per + k, t))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for p in parts {
        out.extend(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_consumes_in_order_with_a_bounded_window() {
        let items: Vec<usize> = (0..500).collect();
        let mut seen = Vec::new();
        ordered_map(
            &items,
            4,
            |&i| {
                // uneven work so results finish out of order
                std::thread::sleep(std::time::Duration::from_micros((i % 7) as u64 * 50));
                i * 2
            },
            |i, r| {
                assert_eq!(r, i * 2);
                seen.push(i);
            },
        );
        assert_eq!(seen, items);
    }

    #[test]
    fn chunked_map_keeps_order_and_indexes() {
        let items: Vec<u32> = (0..10_001).collect();
        let out = chunked_map(&items, 10, |i, &t| (i as u32, t + 1));
        assert_eq!(out.len(), items.len());
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, &(j, t))| j as usize == i && t == i as u32 + 1)
        );
        assert!(chunked_map(&[] as &[u8], 1, |_, &b| b).is_empty());
    }
}
