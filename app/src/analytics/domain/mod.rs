//! Revenue analytics' pure rules (`shared/METRICS.md`): subscription
//! histories in, every figure out. No I/O; each rule tested beside it, and
//! the whole checked against hand-computed fixtures and generated histories
//! in `tests.rs`.

mod forecast;
mod headline;
mod kpis;
mod movers;
mod report;
#[cfg(test)]
mod tests;

pub use crate::billing::domain::series::*;
pub use forecast::*;
pub use headline::*;
pub use kpis::*;
pub use movers::*;
pub use report::*;
