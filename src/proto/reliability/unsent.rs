//! Data the application wrote and the connection has not sent yet, kept in chunks of one
//! packet's payload: sending a full packet then moves a chunk into the send queue instead of
//! copying its bytes (the buffers come from, and return to, the send queue's pool).

use std::collections::VecDeque;

/// Unsent data in payload-sized chunks; only the last chunk may be partly filled, except after
/// the packet size changed.
#[derive(Debug, Default)]
pub struct Unsent {
    chunks: VecDeque<Vec<u8>>,
    len: usize,
}

impl Unsent {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Frees the queue's own capacity once it is empty (an idle connection keeps none).
    pub fn release_idle(&mut self) {
        if self.is_empty() {
            self.chunks = VecDeque::new();
        }
    }

    /// Appends `data`, filling the last chunk up to `chunk` bytes, then new chunks from
    /// `fresh` (empty buffers, ideally with room for `chunk` bytes).
    pub fn push(&mut self, data: &[u8], chunk: usize, mut fresh: impl FnMut() -> Vec<u8>) {
        let chunk = chunk.max(1);
        let mut rest = data;
        if let Some(last) = self.chunks.back_mut() {
            let room = chunk.saturating_sub(last.len()).min(rest.len());
            last.extend_from_slice(&rest[..room]);
            rest = &rest[room..];
        }
        while !rest.is_empty() {
            let n = chunk.min(rest.len());
            let mut c = fresh();
            c.clear();
            c.extend_from_slice(&rest[..n]);
            self.chunks.push_back(c);
            rest = &rest[n..];
        }
        self.len += data.len();
    }

    /// Takes the first `n` bytes (at most [`len`](Self::len)) as one buffer: the front chunk
    /// itself when it holds exactly `n` bytes (the common case: no copy), else a buffer from
    /// `fresh` filled from the front chunks.
    pub fn take(&mut self, n: usize, fresh: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
        let n = n.min(self.len);
        if self.chunks.front().is_some_and(|c| c.len() == n) {
            self.len -= n;
            return self.chunks.pop_front().unwrap_or_default();
        }
        let mut out = fresh();
        out.clear();
        while out.len() < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = front.len().min(n - out.len());
            out.extend_from_slice(&front[..k]);
            if k == front.len() {
                self.chunks.pop_front();
            } else {
                front.drain(..k);
            }
        }
        self.len -= out.len();
        out
    }

    /// Cuts what is queued into chunks of `chunk` bytes (the packet size changed), so that
    /// packets again take whole chunks. Copies everything once; packet sizes change a handful
    /// of times per connection.
    pub fn rechunk(&mut self, chunk: usize, mut fresh: impl FnMut() -> Vec<u8>) {
        let chunk = chunk.max(1);
        if self.chunks.iter().all(|c| c.len() == chunk) {
            return;
        }
        let old = core::mem::take(&mut self.chunks);
        self.len = 0;
        for c in old {
            self.push(&c, chunk, &mut fresh);
        }
    }

    /// Puts `data` before everything queued, cut into chunks of `chunk` bytes.
    pub fn prepend(&mut self, data: &[u8], chunk: usize) {
        let chunk = chunk.max(1);
        for piece in data.chunks(chunk).rev() {
            self.chunks.push_front(piece.to_vec());
        }
        self.len += data.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
            .collect()
    }

    /// Everything taken, in order, in pieces of `take` bytes.
    fn drain(u: &mut Unsent, take: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !u.is_empty() {
            let before = u.len();
            let piece = u.take(take, Vec::new);
            assert_eq!(piece.len(), take.min(before));
            assert_eq!(u.len(), before - piece.len());
            out.extend(piece);
        }
        out
    }

    #[test]
    fn writes_of_any_size_come_out_in_order_and_whole() {
        for (writes, chunk, take) in [
            (&[1usize, 1, 5000, 3][..], 1000, 1000),
            (&[1400, 1400, 1400], 1400, 1400),
            (&[6000, 10], 1382, 1382),
            (&[700, 700, 700], 1000, 300),
            (&[3000], 1000, 2500),
        ] {
            let mut u = Unsent::default();
            let mut all = Vec::new();
            for (i, &w) in writes.iter().enumerate() {
                let data = bytes(w, i as u8);
                u.push(&data, chunk, Vec::new);
                all.extend(data);
            }
            assert_eq!(u.len(), all.len());
            assert_eq!(
                drain(&mut u, take),
                all,
                "writes {writes:?} chunk {chunk} take {take}"
            );
        }
    }

    #[test]
    fn a_full_chunk_is_handed_over_without_a_new_buffer() {
        let mut u = Unsent::default();
        u.push(&bytes(3000, 1), 1000, || Vec::with_capacity(1000));
        let piece = u.take(1000, || panic!("a full chunk needs no fresh buffer"));
        assert_eq!(piece, bytes(3000, 1)[..1000]);
        assert_eq!(u.len(), 2000);
    }

    #[test]
    fn after_a_packet_size_change_packets_take_whole_chunks_again() {
        let mut u = Unsent::default();
        let data = bytes(10_000, 4);
        u.push(&data, 1000, Vec::new);
        u.rechunk(1400, Vec::new);
        let mut out = Vec::new();
        while u.len() > 1400 {
            out.extend(u.take(1400, || panic!("chunks are whole packets after rechunk")));
        }
        out.extend(u.take(1400, Vec::new));
        assert_eq!(out, data);
    }

    #[test]
    fn prepended_data_goes_first_and_the_packet_size_may_change() {
        let mut u = Unsent::default();
        u.push(&bytes(2500, 2), 1000, Vec::new);
        u.prepend(&bytes(1700, 3), 600);
        let mut want = bytes(1700, 3);
        want.extend(bytes(2500, 2));
        assert_eq!(u.len(), want.len());
        assert_eq!(drain(&mut u, 600), want);
        u.release_idle();
        assert!(u.is_empty());
    }
}
