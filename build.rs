//! Generates the BuildKit protocol types from `proto/` with protox (pure Rust,
//! no `protoc` needed) and tonic-prost-build. The output is included by
//! `src/proto.rs`.

use std::path::Path;

/// Entry points; their imports (and google/protobuf/*) are pulled in by protox.
const PROTOS: &[&str] = &[
    "github.com/moby/buildkit/solver/pb/ops.proto",
    "github.com/moby/buildkit/solver/errdefs/errdefs.proto",
    "github.com/moby/buildkit/util/apicaps/pb/caps.proto",
    "github.com/moby/buildkit/api/types/worker.proto",
    "github.com/moby/buildkit/frontend/gateway/pb/gateway.proto",
    "github.com/moby/buildkit/api/services/control/control.proto",
    "github.com/moby/buildkit/session/filesync/filesync.proto",
    "github.com/moby/buildkit/session/auth/auth.proto",
    "github.com/moby/buildkit/session/secrets/secrets.proto",
    "github.com/moby/buildkit/session/sshforward/ssh.proto",
    "grpc/health/v1/health.proto",
    "github.com/tonistiigi/fsutil/types/stat.proto",
    "github.com/tonistiigi/fsutil/types/wire.proto",
    "google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new("proto");
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let fds = protox::compile(PROTOS, [root])?;

    tonic_prost_build::configure()
        // Every map becomes a BTreeMap: op bytes (and so digests) must not
        // depend on hash order.
        .btree_map(".")
        // A definition's ops are slices of the one buffer they are marshalled
        // into (and an embedded definition's ops are shared, not copied).
        .bytes(".pb.Definition.def")
        // An op's metadata and source locations are kept encoded, as written
        // or as they came (src/llb/encoded.rs).
        .extern_path(".pb.OpMetadata", "crate::llb::encoded::OpMetadata")
        .extern_path(".pb.Locations", "crate::llb::encoded::Locations")
        // Clients for LLBBridge/Control, servers for the session services;
        // generating both sides everywhere keeps this simple.
        .build_client(true)
        .build_server(true)
        // Server traits get default methods answering Unimplemented, so a
        // session service only implements what it serves (e.g. Auth without
        // the token-authority RPCs). Streaming replies become `BoxStream<T>`.
        .generate_default_stubs(true)
        // We print our own rerun-if-changed for the whole directory above.
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
