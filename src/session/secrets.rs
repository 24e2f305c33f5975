//! `moby.buildkit.secrets.v1.Secrets`: build secrets from files or environment
//! variables, read when a step asks for them and never kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tonic::{Request, Response, Status};

use crate::proto::secrets::secrets_server::{Secrets, SecretsServer};
use crate::proto::secrets::{GetSecretRequest, GetSecretResponse};

pub const METHOD: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    /// The value of an environment variable, captured when the build starts
    /// (empty when it is not set, as buildx sends it).
    Env(String),
}

struct Provider {
    secrets: BTreeMap<String, SecretSource>,
}

#[tonic::async_trait]
impl Secrets for Provider {
    async fn get_secret(&self, request: Request<GetSecretRequest>) -> Result<Response<GetSecretResponse>, Status> {
        let id = request.into_inner().id;
        // NotFound is what the daemon expects for an unknown secret: optional
        // secret mounts are then skipped, required ones fail with "not found".
        let data = match self.secrets.get(&id) {
            None => return Err(Status::not_found(format!("secret {id} not found"))),
            Some(SecretSource::File(path)) => tokio::fs::read(path)
                .await
                .map_err(|e| Status::not_found(format!("secret {id}: cannot read {}: {e}", path.display())))?,
            Some(SecretSource::Env(value)) => value.clone().into_bytes(),
        };
        Ok(Response::new(GetSecretResponse { data }))
    }
}

pub fn server(secrets: BTreeMap<String, SecretSource>) -> SecretsServer<impl Secrets> {
    SecretsServer::new(Provider { secrets }).max_decoding_message_size(super::MAX_MESSAGE).max_encoding_message_size(super::MAX_MESSAGE)
}
