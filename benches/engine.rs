//! Engine benchmark (being written).
fn main() {}
