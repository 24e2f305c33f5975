//! Frontend options, as BuildKit passes them to a frontend process.

use std::collections::BTreeMap;

use crate::llb::Platform;
use crate::proto::gateway::CacheOptionsEntry;

/// The options of one build (`filename`, `target`, `build-arg:*`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontendOpts {
    pub values: BTreeMap<String, String>,
    pub session_id: Option<String>,
    /// The first worker's first platform, from `BUILDKIT_WORKERS` (what `Ping`
    /// also answers): the default target platform, known without a round trip.
    pub worker_platform: Option<Platform>,
    /// The first worker is dockerd's own image store, which resolves a local
    /// image with no digest: a reference as written is then the one a build
    /// pins. Told by `BUILDKIT_WORKERS`: dockerd's moby worker labels no
    /// snapshotter, where BuildKit's workers (and dockerd's containerd image
    /// store) do. False when not told.
    pub local_images_unpinned: bool,
}

const OPT_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";

impl FrontendOpts {
    /// Reads `BUILDKIT_FRONTEND_OPT_<n>=<key>=<value>` (cut at the first `=`: values
    /// may hold `=`), `BUILDKIT_SESSION_ID` and `BUILDKIT_WORKERS` from an environment.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> FrontendOpts {
        let mut opts = FrontendOpts::default();
        for (name, value) in vars {
            if name.starts_with(OPT_PREFIX) {
                let (key, value) = value.split_once('=').unwrap_or((value.as_str(), ""));
                opts.values.insert(key.to_string(), value.to_string());
            } else if name == "BUILDKIT_SESSION_ID" && !value.is_empty() {
                opts.session_id = Some(value);
            } else if name == "BUILDKIT_WORKERS" {
                if let Some(worker) = first_worker(&value) {
                    opts.local_images_unpinned = !worker.labels.unwrap_or_default().contains_key(SNAPSHOTTER_LABEL);
                    opts.worker_platform = worker.platforms.into_iter().next().map(|p| Platform {
                        os: p.os,
                        architecture: p.architecture,
                        variant: Some(p.variant).filter(|v| !v.is_empty()),
                    });
                }
            }
        }
        opts
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The spec's name in the `dockerfile` local; the CLI sends the basename of `-f`.
    pub fn filename(&self) -> &str {
        self.get("filename").unwrap_or("Dockerfile")
    }

    pub fn target(&self) -> Option<&str> {
        self.get("target")
    }

    pub fn build_args(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("build-arg:").map(|name| (name.to_string(), v.clone())))
            .collect()
    }

    pub fn context_name(&self) -> &str {
        self.get("contextkey").unwrap_or("context")
    }

    pub fn dockerfile_name(&self) -> &str {
        self.get("dockerfilekey").unwrap_or("dockerfile")
    }

    pub fn resolve_mode(&self) -> &str {
        self.get("image-resolve-mode").unwrap_or("default")
    }

    /// `no-cache` as given: absent (`None`), empty (every step), or `a,b` (the
    /// steps of those stages). Unlike [`get`](Self::get), an empty value counts.
    pub fn no_cache(&self) -> Option<&str> {
        self.values.get("no-cache").map(String::as_str)
    }

    /// Cache sources from `cache-imports` (JSON, buildx) and `cache-from` (legacy list).
    /// Without these on the solve, `--cache-from` would silently do nothing.
    pub fn cache_imports(&self) -> Result<Vec<CacheOptionsEntry>, String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Import {
            r#type: String,
            #[serde(default)]
            attrs: BTreeMap<String, String>,
        }
        let mut entries = Vec::new();
        if let Some(json) = self.get("cache-imports") {
            let imports: Vec<Import> =
                serde_json::from_str(json).map_err(|e| format!("cache-imports is not a JSON list of imports: {e}"))?;
            entries.extend(imports.into_iter().map(|i| CacheOptionsEntry { r#type: i.r#type, attrs: i.attrs }));
        } else if let Some(list) = self.get("cache-from") {
            for reference in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let attrs = BTreeMap::from([("ref".to_string(), reference.to_string())]);
                entries.push(CacheOptionsEntry { r#type: "registry".into(), attrs });
            }
        }
        Ok(entries)
    }
}

/// The worker label BuildKit's own workers name their snapshotter with.
const SNAPSHOTTER_LABEL: &str = "org.mobyproject.buildkit.worker.snapshotter";

/// One worker as BuildKit writes them for a frontend, capitalised (Docker
/// 20.10) or not (current BuildKit).
#[derive(serde::Deserialize)]
struct Worker {
    #[serde(rename = "Platforms", alias = "platforms", default)]
    platforms: Vec<OciPlatform>,
    #[serde(rename = "Labels", alias = "labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct OciPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: String,
}

/// The first of `[{"Platforms":[{"os":"linux","architecture":"amd64"}, …], "Labels":{…}}, …]`;
/// anything else is no worker.
fn first_worker(json: &str) -> Option<Worker> {
    let workers: Vec<Worker> = serde_json::from_str(json).ok()?;
    workers.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> FrontendOpts {
        FrontendOpts::from_env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn values_are_cut_at_the_first_equals() {
        let o = opts(&[
            ("BUILDKIT_FRONTEND_OPT_1", "build-arg:X=a=b"),
            ("BUILDKIT_FRONTEND_OPT_0", "filename=app.hcl"),
            ("BUILDKIT_FRONTEND_OPT_2", "cache-from="),
            ("BUILDKIT_SESSION_ID", "s1"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(o.filename(), "app.hcl");
        assert_eq!(o.build_args()["X"], "a=b");
        assert_eq!(o.session_id.as_deref(), Some("s1"));
        assert!(o.cache_imports().unwrap().is_empty(), "docker always sends an empty cache-from");
    }

    #[test]
    fn the_default_platform_is_the_first_workers_first() {
        let workers = r#"[{"ID":"w1","Labels":{},"Platforms":[{"architecture":"arm","os":"linux","variant":"v7"},{"architecture":"amd64","os":"linux"}],"GCPolicy":null}]"#;
        let o = opts(&[("BUILDKIT_WORKERS", workers)]);
        assert_eq!(o.worker_platform.map(|p| p.to_string()).as_deref(), Some("linux/arm/v7"));
        assert_eq!(opts(&[("BUILDKIT_WORKERS", "[]")]).worker_platform, None);
        assert_eq!(opts(&[("BUILDKIT_WORKERS", "not json")]).worker_platform, None);
    }

    #[test]
    fn dockerd_own_image_store_is_the_worker_without_a_snapshotter() {
        // As Docker 20.10, 28 and 28 with the containerd image store write them.
        let docker_20 = r#"[{"ID":"moby","Labels":null,"Platforms":[{"architecture":"amd64","os":"linux"}],"GCPolicy":null}]"#;
        let docker_28 = r#"[{"id":"w","labels":{"org.mobyproject.buildkit.worker.moby.host-gateway-ip":"10.0.0.1"},"platforms":[{"architecture":"amd64","os":"linux","variant":"v2"}]}]"#;
        let containerd = r#"[{"id":"w","labels":{"org.mobyproject.buildkit.worker.snapshotter":"overlayfs"},"platforms":[]}]"#;
        let (o20, o28, oc) = (opts(&[("BUILDKIT_WORKERS", docker_20)]), opts(&[("BUILDKIT_WORKERS", docker_28)]), opts(&[("BUILDKIT_WORKERS", containerd)]));
        assert_eq!((o20.local_images_unpinned, o28.local_images_unpinned, oc.local_images_unpinned), (true, true, false));
        assert_eq!(o28.worker_platform.map(|p| p.to_string()).as_deref(), Some("linux/amd64/v2"));
        assert!(!opts(&[]).local_images_unpinned, "not told is not dockerd's store");
    }

    #[test]
    fn no_cache_keeps_an_empty_value_apart_from_none() {
        assert_eq!(opts(&[]).no_cache(), None);
        assert_eq!(opts(&[("BUILDKIT_FRONTEND_OPT_0", "no-cache=")]).no_cache(), Some(""));
        assert_eq!(opts(&[("BUILDKIT_FRONTEND_OPT_0", "no-cache=deps,css")]).no_cache(), Some("deps,css"));
    }

    #[test]
    fn cache_imports_from_json_or_list() {
        let o = opts(&[("BUILDKIT_FRONTEND_OPT_0", r#"cache-imports=[{"Type":"registry","Attrs":{"ref":"r/c"}}]"#)]);
        assert_eq!(o.cache_imports().unwrap()[0].attrs["ref"], "r/c");
        let o = opts(&[("BUILDKIT_FRONTEND_OPT_0", "cache-from=a, b")]);
        assert_eq!(o.cache_imports().unwrap().len(), 2);
    }
}
