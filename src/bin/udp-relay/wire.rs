//! What the relay sees of the uTP datagrams it forwards: a one-line description of each (for
//! `--log`) and a tally of the extensions per direction (printed at exit), so that an interop
//! run can show which packet types, extension lengths and windows a peer used. Only the fixed
//! BEP 29 header and the extension chain are read; nothing is validated beyond that.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The fixed uTP header (BEP 29).
const HEADER_LEN: usize = 20;

/// BEP 29's packet type names, by the high nibble of the first byte.
const TYPE_NAMES: [&str; 5] = ["DATA", "FIN", "STATE", "RESET", "SYN"];

/// A uTP datagram's header fields and extension chain, as read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: u8,
    pub connection_id: u16,
    pub window: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    /// (type, body length) of each extension, in order.
    pub extensions: Vec<(u8, u8)>,
    /// Bytes after the extension chain.
    pub payload: usize,
}

/// Reads `datagram` as uTP; `None` if it is shorter than a header, not version 1, or its
/// extension chain runs past its end.
pub fn inspect(datagram: &[u8]) -> Option<Seen> {
    if datagram.len() < HEADER_LEN || datagram[0] & 0x0F != 1 {
        return None;
    }
    let u16_at = |i: usize| u16::from_be_bytes([datagram[i], datagram[i + 1]]);
    let u32_at = |i: usize| {
        u32::from_be_bytes([
            datagram[i],
            datagram[i + 1],
            datagram[i + 2],
            datagram[i + 3],
        ])
    };
    let mut extensions = Vec::new();
    let mut next = datagram[1];
    let mut at = HEADER_LEN;
    while next != 0 {
        let prefix = datagram.get(at..at + 2)?;
        let len = prefix[1];
        extensions.push((next, len));
        next = prefix[0];
        at += 2 + usize::from(len);
        if at > datagram.len() {
            return None;
        }
    }
    Some(Seen {
        kind: datagram[0] >> 4,
        connection_id: u16_at(2),
        window: u32_at(12),
        seq_nr: u16_at(16),
        ack_nr: u16_at(18),
        extensions,
        payload: datagram.len() - at,
    })
}

impl Seen {
    /// The packet type's name (`T7` for an unknown one).
    pub fn kind_name(&self) -> String {
        TYPE_NAMES
            .get(usize::from(self.kind))
            .map_or_else(|| format!("T{}", self.kind), |n| n.to_string())
    }

    /// One line: type, connection id, seq, ack, window, extensions (`type/len`), payload.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "{} id {} seq {} ack {} wnd {} ext [",
            self.kind_name(),
            self.connection_id,
            self.seq_nr,
            self.ack_nr,
            self.window
        );
        for (i, (t, len)) in self.extensions.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(line, "{sep}{t}/{len}");
        }
        let _ = write!(line, "] payload {}", self.payload);
        line
    }
}

/// Extensions (type, body length) and packet types counted over one direction.
#[derive(Debug, Default)]
pub struct Tally {
    extensions: BTreeMap<(u8, u8), u64>,
    kinds: BTreeMap<String, u64>,
    not_utp: u64,
}

impl Tally {
    /// Counts one datagram.
    pub fn add(&mut self, datagram: &[u8]) {
        match inspect(datagram) {
            Some(seen) => {
                *self.kinds.entry(seen.kind_name()).or_default() += 1;
                for e in seen.extensions {
                    *self.extensions.entry(e).or_default() += 1;
                }
            }
            None => self.not_utp += 1,
        }
    }

    /// `types DATA x3 STATE x9 extensions 1/4 x2 3/4 x1 not-uTP 0`.
    pub fn summary(&self) -> String {
        let mut line = String::from("types");
        for (k, n) in &self.kinds {
            let _ = write!(line, " {k} x{n}");
        }
        line.push_str(" extensions");
        for ((t, len), n) in &self.extensions {
            let _ = write!(line, " {t}/{len} x{n}");
        }
        let _ = write!(line, " not-uTP {}", self.not_utp);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STATE packet with an 8-byte selective ACK and a close reason.
    fn sample() -> Vec<u8> {
        let mut d = vec![0x21, 1, 0x12, 0x34];
        d.extend_from_slice(&[0; 8]); // timestamps
        d.extend_from_slice(&65_536u32.to_be_bytes());
        d.extend_from_slice(&7u16.to_be_bytes());
        d.extend_from_slice(&9u16.to_be_bytes());
        d.extend_from_slice(&[3, 8, 0xFF, 0, 0, 0, 0, 0, 0, 1]);
        d.extend_from_slice(&[0, 4, 0, 0, 0, 2]);
        d
    }

    #[test]
    fn header_and_extensions_are_read() {
        let seen = inspect(&sample()).expect("uTP");
        assert_eq!(seen.kind_name(), "STATE");
        assert_eq!(
            (seen.connection_id, seen.seq_nr, seen.ack_nr),
            (0x1234, 7, 9)
        );
        assert_eq!(seen.window, 65_536);
        assert_eq!(seen.extensions, vec![(1, 8), (3, 4)]);
        assert_eq!(seen.payload, 0);
        assert_eq!(
            seen.describe(),
            "STATE id 4660 seq 7 ack 9 wnd 65536 ext [1/8 3/4] payload 0"
        );
    }

    #[test]
    fn truncated_or_foreign_datagrams_are_not_utp() {
        let d = sample();
        assert_eq!(inspect(&d[..19]), None);
        assert_eq!(inspect(&d[..25]), None, "chain runs past the end");
        let mut v2 = d.clone();
        v2[0] = 0x22;
        assert_eq!(inspect(&v2), None);
        let mut tally = Tally::default();
        tally.add(&d);
        tally.add(&d[..10]);
        assert_eq!(
            tally.summary(),
            "types STATE x1 extensions 1/8 x1 3/4 x1 not-uTP 1"
        );
    }
}
