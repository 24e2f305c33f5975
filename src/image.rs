//! The OCI/Docker image config: read from base images, written for the result.
//!
//! Fields we do not interpret (rootfs, history, and anything newer) are kept as they
//! came, so a base image's config passes through unchanged where we do not touch it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// What `docker run` uses: the part of the config a spec sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// The PATH the engine gives a process when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ImageConfig {
    pub fn parse(json: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(json)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an image config always serializes")
    }

    /// The config's environment as pairs, in order.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.config
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect()
    }

    pub fn set_env(&mut self, pairs: &[(String, String)]) {
        self.config.env = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_pass_through() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Shell":["/bin/bash"]},"rootfs":{"type":"layers"}}"#;
        let cfg = ImageConfig::parse(json).unwrap();
        assert_eq!(cfg.env_pairs(), vec![("A".to_string(), "1".to_string())]);
        let back: Value = serde_json::from_slice(&cfg.to_json()).unwrap();
        assert_eq!(back["config"]["Shell"][0], "/bin/bash");
        assert_eq!(back["rootfs"]["type"], "layers");
    }
}
