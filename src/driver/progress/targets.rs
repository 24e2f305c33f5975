//! Many targets, one display: buildx's name prefix, and one owner per vertex.

use std::collections::HashMap;

use crate::proto::control::StatusResponse;

/// buildx's `addPrefix`: `[web 2/5] RUN …` from `[2/5] RUN …`, `[web] x` from `x`.
pub(crate) fn prefixed_name(target: &str, name: &str) -> String {
    match name.strip_prefix('[') {
        Some(rest) => format!("[{target} {rest}"),
        None => format!("[{target}] {name}"),
    }
}

/// Rewrites each target's status updates before they are shown.
///
/// Targets solved together share vertices with the same digest, and every
/// target's stream reports them. The first target to mention a digest owns it:
/// only its logs and warnings are kept, so shared output shows once (buildx
/// does the same for logs with `ValidateLogSource`).
#[derive(Debug, Default)]
pub(crate) struct TargetRouter {
    multi_target: bool,
    owners: HashMap<String, String>,
}

impl TargetRouter {
    pub(crate) fn new(multi_target: bool) -> Self {
        Self { multi_target, owners: HashMap::new() }
    }

    pub(crate) fn route(&mut self, target: &str, mut status: StatusResponse) -> StatusResponse {
        if !self.multi_target {
            return status;
        }
        for vertex in &mut status.vertexes {
            self.claim(target, &vertex.digest);
            vertex.name = prefixed_name(target, &vertex.name);
            if let Some(group) = vertex.progress_group.as_mut() {
                group.name = prefixed_name(target, &group.name);
            }
        }
        status.logs.retain(|log| self.claim(target, &log.vertex));
        status.warnings.retain(|warning| self.claim(target, &warning.vertex));
        status
    }

    /// Whether `target` owns `digest`, making it the owner if nobody is yet.
    fn claim(&mut self, target: &str, digest: &str) -> bool {
        self.owners.entry(digest.to_string()).or_insert_with(|| target.to_string()) == target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::control::{Vertex, VertexLog};
    use crate::proto::pb::ProgressGroup;

    #[test]
    fn prefixes_as_buildx() {
        assert_eq!(prefixed_name("web", "[2/5] RUN make"), "[web 2/5] RUN make");
        assert_eq!(prefixed_name("web", "[internal] load .dockerignore"), "[web internal] load .dockerignore");
        assert_eq!(prefixed_name("web", "exporting to image"), "[web] exporting to image");
        assert_eq!(prefixed_name("web", ""), "[web] ");
    }

    fn vertex_with_log(digest: &str, name: &str) -> StatusResponse {
        StatusResponse {
            vertexes: vec![Vertex {
                digest: digest.into(),
                name: name.into(),
                progress_group: Some(ProgressGroup { id: "g".into(), name: "[auth] x".into(), weak: false }),
                ..Default::default()
            }],
            logs: vec![VertexLog { vertex: digest.into(), msg: b"hi\n".to_vec(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn one_target_passes_through() {
        let status = vertex_with_log("sha256:a", "[1/2] FROM x");
        assert_eq!(TargetRouter::new(false).route("web", status.clone()), status);
    }

    #[test]
    fn shared_vertices_keep_their_first_target_logs() {
        let mut router = TargetRouter::new(true);
        let web = router.route("web", vertex_with_log("sha256:a", "[1/2] FROM x"));
        assert_eq!(web.vertexes[0].name, "[web 1/2] FROM x");
        assert_eq!(web.vertexes[0].progress_group.as_ref().unwrap().name, "[web auth] x");
        assert_eq!(web.logs.len(), 1);
        let api = router.route("api", vertex_with_log("sha256:a", "[1/2] FROM x"));
        assert_eq!(api.vertexes[0].name, "[api 1/2] FROM x");
        assert!(api.logs.is_empty(), "web owns sha256:a");
    }
}
