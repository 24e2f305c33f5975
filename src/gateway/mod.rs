//! The gateway client: BuildKit's LLBBridge, independent of how it is reached.
//!
//! Transports: [`stdio`] inside the frontend image BuildKit starts. The bake driver
//! reaches the same bridge over the control API with a build id.

mod client;
pub mod opts;
pub mod stdio;

pub use client::{error_status, forwarded_status, EngineCaps, GatewayClient, SolvedRef};
