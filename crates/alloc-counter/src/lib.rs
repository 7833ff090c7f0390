//! An allocation-counting global allocator for tests that prove real-time code never touches
//! the heap. Install it in a test binary and wrap the code under test in [`count_allocations`]:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: xodvox_alloc_counter::CountingAllocator =
//!     xodvox_alloc_counter::CountingAllocator;
//! let ((), n) = xodvox_alloc_counter::count_allocations(|| stretcher.process(&ins, &mut outs));
//! assert_eq!(n, 0);
//! ```
//!
//! Only allocations made on the calling thread while counting are counted, so worker threads
//! (e.g. neural inference) do not disturb the measurement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            COUNT.with(|n| n.set(n.get() + 1));
        }
    });
}

/// The system allocator, counting allocations, frees and reallocations made on a thread
/// inside [`count_allocations`].
pub struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the number of heap operations it made on this
/// thread (0 unless [`CountingAllocator`] is the global allocator).
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, COUNT.with(|n| n.get()))
}
