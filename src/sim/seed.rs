//! Replayable seeds: read one from `RUTP_SIM_SEED`, and print it when a test fails.
//!
//! A failing scenario prints `RUTP_SIM_SEED=<seed>` on stderr; running the same test with that
//! variable set replays the failing run exactly.

/// The environment variable that overrides a test's default seed.
pub const SEED_ENV: &str = "RUTP_SIM_SEED";

/// The seed named by `RUTP_SIM_SEED` (decimal, or hexadecimal with a `0x` prefix), or `default`
/// when the variable is unset or empty.
///
/// # Panics
/// When the variable is set to something that is not a `u64`: a typo should not silently run a
/// different scenario.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var_os(SEED_ENV) {
        None => default,
        Some(value) if value.is_empty() => default,
        Some(value) => match value.to_str().and_then(parse_seed) {
            Some(seed) => seed,
            None => panic!("{SEED_ENV}={value:?} is not a decimal or 0x-hexadecimal u64"),
        },
    }
}

/// Parses a seed written in decimal or as `0x`-prefixed hexadecimal; surrounding spaces and `_`
/// separators are accepted.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

/// A guard that prints `RUTP_SIM_SEED=<seed>` to stderr if it is dropped while its thread is
/// panicking, so a failed test says how to replay it. Every [`Sim`](super::Sim) holds one.
#[derive(Debug)]
pub struct SeedReporter {
    seed: u64,
}

impl SeedReporter {
    /// A guard for `seed`.
    pub const fn new(seed: u64) -> Self {
        SeedReporter { seed }
    }

    /// The seed it will report.
    pub const fn seed(&self) -> u64 {
        self.seed
    }
}

impl Drop for SeedReporter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("simulation failed; replay it with {SEED_ENV}={}", self.seed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2A "), Some(42));
        assert_eq!(parse_seed("0xdead_beef"), Some(0xdead_beef));
        assert_eq!(parse_seed("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_seed("18446744073709551616"), None);
        assert_eq!(parse_seed("-1"), None);
        assert_eq!(parse_seed("+1"), None);
        assert_eq!(parse_seed("0x"), None);
        assert_eq!(parse_seed("seed"), None);
    }

    #[test]
    fn reporter_keeps_its_seed() {
        assert_eq!(SeedReporter::new(7).seed(), 7);
    }
}
