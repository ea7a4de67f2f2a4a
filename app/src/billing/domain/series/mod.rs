//! The ledger's MRR series: each customer's MRR at the end of every UTC day
//! it changed (`history`), reduced to additive figures (`rollup`) that the
//! ledger keeps up to date with every revision it records, and the calendar
//! months they are reported by (`month`). Pure; analytics reads them.

mod history;
mod month;
mod rollup;

pub use history::*;
pub use month::*;
pub use rollup::*;
