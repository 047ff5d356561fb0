//! A free list of packet buffers, so that steady-state traffic allocates nothing: buffers
//! return here when their packet is acknowledged or delivered, and are reused for the next one.

/// Reusable `Vec<u8>` buffers, each with room for one packet payload.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    buffer_capacity: usize,
}

/// Buffers kept at most; beyond this, returned buffers are freed.
const MAX_POOLED: usize = 4096;

impl BufferPool {
    /// A pool handing out buffers with room for `buffer_capacity` bytes.
    pub fn new(buffer_capacity: usize) -> Self {
        BufferPool {
            free: Vec::new(),
            buffer_capacity,
        }
    }

    /// An empty buffer, reused when one is free.
    pub fn take(&mut self) -> Vec<u8> {
        match self.free.pop() {
            Some(buf) => buf,
            None => Vec::with_capacity(self.buffer_capacity),
        }
    }

    /// Returns a buffer for reuse.
    pub fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < MAX_POOLED && buf.capacity() >= self.buffer_capacity {
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Frees every pooled buffer (an idle connection keeps none; the next packet allocates).
    pub fn clear(&mut self) {
        self.free = Vec::new();
    }

    /// Changes the size of buffers handed out from now on (the packet size changed).
    pub fn set_buffer_capacity(&mut self, capacity: usize) {
        if capacity > self.buffer_capacity {
            self.free.clear();
        }
        self.buffer_capacity = capacity;
    }
}
