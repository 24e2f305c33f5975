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
                opts.worker_platform = first_worker_platform(&value);
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

/// `[{"Platforms":[{"os":"linux","architecture":"amd64"}, …], …}, …]`, as
/// BuildKit writes its workers for a frontend; anything else is no platform.
fn first_worker_platform(json: &str) -> Option<Platform> {
    #[derive(serde::Deserialize)]
    struct Worker {
        #[serde(rename = "Platforms", default)]
        platforms: Vec<OciPlatform>,
    }
    #[derive(serde::Deserialize)]
    struct OciPlatform {
        os: String,
        architecture: String,
        #[serde(default)]
        variant: String,
    }
    let workers: Vec<Worker> = serde_json::from_str(json).ok()?;
    let first = workers.into_iter().next()?.platforms.into_iter().next()?;
    Some(Platform { os: first.os, architecture: first.architecture, variant: Some(first.variant).filter(|v| !v.is_empty()) })
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
