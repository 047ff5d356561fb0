//! placeholder
/// placeholder
pub enum State {}
