//! The committed C headers (utp.h, utp_types.h, utp_managed.h) are cbindgen's output for the current sources: regenerating them
//! must give the same bytes. After changing the FFI or the cbindgen configs, run
//! `RUTP_BLESS=1 cargo test --test headers` and commit the result.

use std::path::Path;

fn generate(config: &str, source: Option<&str>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join(config)).expect("cbindgen config");
    let builder = cbindgen::Builder::new().with_config(config);
    let builder = match source {
        Some(file) => builder.with_src(root.join(file)),
        None => builder.with_crate(root),
    };
    let mut out = Vec::new();
    builder
        .generate()
        .expect("cbindgen generates")
        .write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

fn check(header: &str, generated: String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(header);
    if std::env::var_os("RUTP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{header} drifted from the sources (first differing line: {:?}).\n--- committed\n{}\n+++ generated\n{}\n\
             Regenerate with: RUTP_BLESS=1 cargo test --test headers",
            first.map(|i| i + 1),
            first.map_or("", |i| committed.lines().nth(i).unwrap_or("")),
            first.map_or("", |i| generated.lines().nth(i).unwrap_or("")),
        );
    }
}

#[test]
fn utp_h_matches_the_sources() {
    let header = generate("cbindgen.toml", None);
    // libutp's header declares libutp's API only: a managed-mode function left out of
    // cbindgen.toml's exclude list would land here.
    let stray: Vec<&str> = header
        .lines()
        .filter(|l| !l.trim_start().starts_with('*') && l.contains("utp_managed_"))
        .collect();
    assert!(
        stray.is_empty(),
        "managed-mode declarations in utp.h: {stray:?}"
    );
    check("include/utp.h", header);
}

#[test]
fn utp_types_h_matches_its_config() {
    check(
        "include/utp_types.h",
        generate("cbindgen-types.toml", Some("include/types.rs")),
    );
}

#[test]
fn utp_managed_h_matches_the_sources() {
    check(
        "include/utp_managed.h",
        generate("cbindgen-managed.toml", Some("src/ffi/managed/api.rs")),
    );
}
