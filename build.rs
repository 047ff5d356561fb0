//! Build script: gives the C library (the `cdylib`, `libutp.so`) an ELF SONAME.
//!
//! The reference libutp has none, so binaries built against it record `NEEDED libutp.so`; ours
//! records `libutp.so.<SOVERSION>`, and the install keeps the chain
//! `libutp.so -> libutp.so.<SOVERSION> -> libutp.so.<version>` so both kinds resolve.
//! `CMakeLists.txt` reads [`SOVERSION`] from this file: change it here only.

/// Major version of the C ABI, which is libutp's and changes only when that ABI breaks.
const SOVERSION: &str = "0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Only ELF targets whose linkers (GNU ld, gold, lld, mold) take `-soname`.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libutp.so.{SOVERSION}");
    }
}
