//! Generated BuildKit protocol types (see `proto/` and `build.rs`).
//!
//! The module tree mirrors the protobuf packages because generated code refers
//! to other packages through `super::` paths. Use the short aliases below
//! rather than the full package paths.

/// `moby.buildkit.v1.frontend`: the LLBBridge gateway API (frontend side).
pub use self::moby::buildkit::v1::frontend as gateway;
/// `moby.buildkit.v1`: the Control API (bake driver side).
pub use self::moby::buildkit::v1 as control;
/// `moby.buildkit.v1.apicaps`: capability records.
pub use self::moby::buildkit::v1::apicaps;
/// `moby.buildkit.v1.types`: worker records and daemon version.
pub use self::moby::buildkit::v1::types as worker;
/// `fsutil.types`: file stats and DiffCopy packets.
pub use self::fsutil::types as fstypes;
/// `moby.filesync.v1`: FileSync, FileSend and Auth session services.
pub use self::moby::filesync::v1 as filesync;
/// `moby.buildkit.secrets.v1`: the Secrets session service.
pub use self::moby::buildkit::secrets::v1 as secrets;
/// `moby.sshforward.v1`: SSH agent forwarding.
pub use self::moby::sshforward::v1 as sshforward;
/// `grpc.health.v1`: the health check the daemon runs on a session.
pub use self::grpc::health::v1 as health;
/// `google.rpc`: gRPC error status.
pub use self::google::rpc;

/// `errdefs`: typed error details (failed vertex, source location).
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod errdefs {
    include!(concat!(env!("OUT_DIR"), "/errdefs.rs"));
}

/// `pb`: LLB ops and definitions.
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb.rs"));
}

/// `moby.*` packages.
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod moby {
    /// `moby.buildkit.*` packages.
    pub mod buildkit {
        /// `moby.buildkit.v1` (Control) and its sub-packages.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.rs"));

            /// `moby.buildkit.v1.frontend` (LLBBridge).
            pub mod frontend {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.frontend.rs"));
            }

            /// `moby.buildkit.v1.apicaps`.
            pub mod apicaps {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.apicaps.rs"));
            }

            /// `moby.buildkit.v1.types`.
            pub mod types {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.types.rs"));
            }
        }

        /// `moby.buildkit.secrets.*`.
        pub mod secrets {
            /// `moby.buildkit.secrets.v1`.
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.secrets.v1.rs"));
            }
        }
    }

    /// `moby.sshforward.*`.
    pub mod sshforward {
        /// `moby.sshforward.v1` (SSH).
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.sshforward.v1.rs"));
        }
    }

    /// `moby.filesync.*`.
    pub mod filesync {
        /// `moby.filesync.v1` (FileSync, FileSend, Auth).
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.filesync.v1.rs"));
        }
    }
}

/// `fsutil.*` packages.
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod fsutil {
    /// `fsutil.types`.
    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/fsutil.types.rs"));
    }
}

/// `grpc.*` packages.
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod grpc {
    /// `grpc.health.*`.
    pub mod health {
        /// `grpc.health.v1`.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
        }
    }
}

/// `google.*` packages (well-known `google.protobuf` types come from `prost_types`).
#[allow(clippy::all, clippy::pedantic, clippy::nursery, missing_docs)]
pub mod google {
    /// `google.rpc`.
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

#[cfg(test)]
mod tests {
    use super::pb;
    use prost::Message;
    use std::collections::BTreeMap;

    /// prost's byte layout for a small source op (oneof at its tag position,
    /// empty map value omitted), as measured in the research notes.
    #[test]
    fn source_op_bytes_are_stable() {
        let op = pb::Op {
            inputs: vec![],
            op: Some(pb::op::Op::Source(pb::SourceOp {
                identifier: "x".into(),
                attrs: BTreeMap::from([("k".to_string(), String::new())]),
            })),
            platform: Some(pb::Platform {
                architecture: "a".into(),
                os: "l".into(),
                ..Default::default()
            }),
            constraints: Some(pb::WorkerConstraints::default()),
        };
        let expected: &[u8] = &[
            0x1a, 0x08, 0x0a, 0x01, 0x78, 0x12, 0x03, 0x0a, 0x01, 0x6b, // source
            0x52, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x6c, // platform
            0x5a, 0x00, // constraints
        ];
        assert_eq!(op.encode_to_vec(), expected);
    }

    /// `FileOp.actions` is field 2 (length-delimited tag 0x12), not 1.
    #[test]
    fn file_op_actions_is_field_two() {
        let file = pb::FileOp {
            actions: vec![pb::FileAction {
                input: 0,
                secondary_input: -1,
                output: 0,
                action: Some(pb::file_action::Action::Rm(pb::FileActionRm {
                    path: "/x".into(),
                    allow_not_found: true,
                    allow_wildcard: false,
                })),
            }],
        };
        let bytes = file.encode_to_vec();
        assert_eq!(bytes[0], 0x12);
    }

    /// The field names the rest of the crate leans on exist with these types.
    #[test]
    fn generated_names() {
        let mount = pb::Mount {
            mount_type: pb::MountType::Cache as i32,
            cache_opt: Some(pb::CacheOpt {
                id: "ns/id".into(),
                sharing: pb::CacheSharingOpt::Locked as i32,
            }),
            ssh_opt: None,
            tmpfs_opt: None,
            ..Default::default()
        };
        assert_eq!(mount.mount_type(), pb::MountType::Cache);

        let pong = super::gateway::PongResponse::default();
        assert!(pong.frontend_api_caps.is_empty() && pong.llb_caps.is_empty());

        let res = super::gateway::Result {
            result: Some(super::gateway::result::Result::Ref(super::gateway::Ref {
                id: "r".into(),
                def: None,
            })),
            metadata: BTreeMap::new(),
        };
        let ret = super::gateway::ReturnRequest {
            result: Some(res),
            error: Some(super::rpc::Status::default()),
        };
        assert!(ret.encoded_len() > 0);
    }
}
