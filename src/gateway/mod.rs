//! The gateway client: BuildKit's LLBBridge, independent of how it is reached.
//!
//! The frontend reaches it over stdio inside the image BuildKit starts; the bake
//! driver over the control connection with a build id (`crate::transport`).

mod client;
pub mod opts;

pub use client::{error_status, forwarded_status, EngineCaps, GatewayClient, SolvedRef};
