//! Simulator scenarios (being written).
