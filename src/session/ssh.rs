//! `moby.sshforward.v1.SSH`: the client's SSH agent, forwarded into build steps
//! with an ssh mount. Each `ForwardAgent` call is one agent connection whose
//! bytes are pumped both ways between the stream and the agent's socket.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::sshforward::ssh_server::{Ssh, SshServer};
use crate::proto::sshforward::{BytesMessage, CheckAgentRequest, CheckAgentResponse};

pub const METHODS: [&str; 2] = ["/moby.sshforward.v1.SSH/CheckAgent", "/moby.sshforward.v1.SSH/ForwardAgent"];

/// The metadata key naming the agent a forwarded connection is for.
const AGENT_ID_KEY: &str = "buildkit.ssh.id";
const DEFAULT_ID: &str = "default";

struct Agents {
    sockets: BTreeMap<String, PathBuf>,
}

impl Agents {
    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_ID } else { id };
        self.sockets.get(id).ok_or_else(|| Status::not_found(format!("no SSH agent with id {id:?} is forwarded")))
    }
}


#[tonic::async_trait]
impl Ssh for Agents {
    async fn check_agent(&self, request: Request<CheckAgentRequest>) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&request.into_inner().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    async fn forward_agent(&self, request: Request<Streaming<BytesMessage>>) -> Result<Response<BoxStream<BytesMessage>>, Status> {
        let id = request.metadata().get(AGENT_ID_KEY).and_then(|v| v.to_str().ok()).unwrap_or(DEFAULT_ID).to_string();
        let path = self.socket(&id)?.clone();
        let agent = UnixStream::connect(&path)
            .await
            .map_err(|e| Status::unavailable(format!("SSH agent {id}: cannot connect to {}: {e}", path.display())))?;
        let (mut from_agent, mut to_agent) = agent.into_split();
        let mut incoming = request.into_inner();
        // Daemon → agent: copied until the daemon ends its side.
        tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                if to_agent.write_all(&message.data).await.is_err() {
                    break;
                }
            }
            let _ = to_agent.shutdown().await;
        });
        // Agent → daemon: the response stream, ended when the agent closes.
        let replies = super::reply_stream(move |tx| async move {
            let mut buffer = vec![0u8; 32 << 10];
            loop {
                match from_agent.read(&mut buffer).await {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Ok(BytesMessage { data: buffer[..n].to_vec() })).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Status::unavailable(format!("SSH agent {id}: {e}")))).await;
                        break;
                    }
                }
            }
        });
        Ok(Response::new(replies))
    }
}

pub fn server(sockets: BTreeMap<String, PathBuf>) -> SshServer<impl Ssh> {
    SshServer::new(Agents { sockets }).max_decoding_message_size(super::MAX_MESSAGE).max_encoding_message_size(super::MAX_MESSAGE)
}
