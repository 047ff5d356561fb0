//! Empty source for cbindgen-types.toml: utp_types.h holds no Rust items.
