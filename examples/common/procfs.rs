//! What the benchmark examples read from `/proc` (Linux): the process's memory and the host's
//! UDP receive-buffer drops. Included by each example with `#[path]` (examples are separate
//! crates).

/// A line of `/proc/self/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The host's UDP `RcvbufErrors` (datagrams dropped on full receive buffers, host-wide), from
/// `/proc/net/snmp`.
pub fn rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}
