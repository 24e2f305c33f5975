//! leaven: a web app's container build, described once, compiled to BuildKit LLB.
//!
//! The modules read as the pipeline: `spec` (parse, check, model) → `compile` → `llb`
//! → `gateway` (one client, several transports) → the engine. `hcl` is the evaluation
//! core specs and bake files share; `bake` reads docker-bake files as buildx does. `frontend` ties the pipeline together inside the
//! image BuildKit starts; `stack` is the run side (compose files, `leaven.mk`);
//! `hostprep` prepares the host directories compose mounts on userns-remapped
//! daemons; `cli` backs the subcommands; `main.rs` only parses arguments.

pub mod bake;
pub mod cli;
pub mod compile;
pub mod driver;
pub mod frontend;
pub mod gateway;
pub mod go_json;
pub mod hcl;
pub mod hostprep;
pub mod image;
pub mod llb;
pub mod patterns;
pub mod proto;
pub mod session;
pub mod spec;
pub mod stack;
pub mod task;
pub mod transport;
