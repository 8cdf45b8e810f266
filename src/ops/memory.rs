//! Gives freed memory back to the system after many connections closed.
//!
//! glibc keeps freed heap pages for reuse; after a burst of thousands of
//! connections (a driver pool reconnecting after a failover) the process
//! would stay at its peak size for ever. `malloc_trim` returns free pages
//! of every arena to the kernel. It walks the heaps, so it runs from the
//! control thread, at most once a second, and only after a real drop.

/// Connections that must have closed since the last peak before a trim.
const TRIM_AFTER_CLOSED: usize = 64;

/// Watches the open-connection count and trims after a drop.
#[derive(Default)]
pub struct Trimmer {
    peak: usize,
}

impl Trimmer {
    /// Called with the current count; returns whether it trimmed.
    pub fn observe(&mut self, open: usize) -> bool {
        if open >= self.peak {
            self.peak = open;
            return false;
        }
        let dropped = self.peak - open;
        if dropped >= TRIM_AFTER_CLOSED || (open == 0 && dropped > 0) {
            // SAFETY: malloc_trim only touches glibc's allocator state,
            // under its own locks.
            unsafe { libc::malloc_trim(0) };
            self.peak = open;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_drop_only() {
        let mut t = Trimmer::default();
        assert!(!t.observe(10));
        assert!(!t.observe(500));
        assert!(!t.observe(480));
        assert!(t.observe(400));
        assert!(!t.observe(400));
        assert!(!t.observe(401));
        assert!(t.observe(0));
        assert!(!t.observe(0));
    }
}
