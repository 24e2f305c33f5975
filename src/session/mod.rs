//! The client side of a BuildKit session: the gRPC services the daemon calls
//! back into while it builds (file sync, secrets, SSH, auth, file send, health).

pub mod fsutil;
