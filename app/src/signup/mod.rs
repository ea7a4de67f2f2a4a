//! Signup: a prospect becomes a customer. One transaction creates the user,
//! their organisation and owner membership, and the card-free trial; so
//! this use case stands above both `accounts` and `billing`, which it joins.

pub mod api;
#[cfg(feature = "ssr")]
pub mod flow;
pub mod pages;

pub use pages::{CheckEmailPage, SignupPage};
