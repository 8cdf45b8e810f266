//! A bounded byte buffer for one relay direction. Its memory is taken on
//! first use and given back whenever it drains, so an idle connection
//! holds no buffer at all.

/// Size of one buffer: four TLS records' worth of plaintext, so a burst is
/// read in several records and written to the other side in one call
/// (fewer syscalls and loopback wake-ups per MB; docs/performance.md).
/// Buffers exist only while bytes wait in them.
pub const CAPACITY: usize = 64 * 1024;

#[derive(Default)]
pub struct RelayBuffer {
    data: Option<Box<[u8]>>,
    start: usize,
    end: usize,
}

impl RelayBuffer {
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn is_full(&self) -> bool {
        self.end == CAPACITY && self.start == 0
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> &[u8] {
        match &self.data {
            Some(data) => &data[self.start..self.end],
            None => &[],
        }
    }

    /// Free space to read into; moves waiting bytes to the front first
    /// when that makes room.
    pub fn space(&mut self) -> &mut [u8] {
        let data = self
            .data
            .get_or_insert_with(|| vec![0u8; CAPACITY].into_boxed_slice());
        if self.end == CAPACITY && self.start > 0 {
            data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut data[self.end..]
    }

    /// Records `n` bytes written into `space()`.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(CAPACITY);
    }

    /// Records `n` bytes of `pending()` sent; frees the memory when empty.
    pub fn consumed(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.is_empty() {
            self.release();
        }
    }

    /// Gives the memory back if nothing is waiting in it.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.data = None;
            self.start = 0;
            self.end = 0;
        }
    }

    #[cfg(test)]
    pub fn holds_memory(&self) -> bool {
        self.data.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_drains_and_releases() {
        let mut b = RelayBuffer::default();
        assert!(!b.holds_memory());
        let space = b.space();
        assert_eq!(space.len(), CAPACITY);
        space[..3].copy_from_slice(b"abc");
        b.filled(3);
        assert_eq!(b.pending(), b"abc");
        b.consumed(1);
        assert_eq!(b.pending(), b"bc");
        b.consumed(2);
        assert!(b.is_empty() && !b.holds_memory());
    }

    #[test]
    fn compacts_when_the_tail_is_full() {
        let mut b = RelayBuffer::default();
        let n = b.space().len();
        b.filled(n);
        assert!(b.is_full());
        b.consumed(10);
        assert_eq!(b.space().len(), 10);
        assert_eq!(b.pending().len(), CAPACITY - 10);
    }
}
