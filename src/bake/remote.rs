//! Remote bake definitions: `leaven bake URL [CMD_CONTEXT] [TARGET…]`, where
//! URL is a git repository (`https://host/org/repo.git#ref:subdir`,
//! `git@host:org/repo.git`, `git://…`) or an `https://` file or tarball.
//!
//! This module is pure: it recognises the URLs, says what the engine must
//! fetch, and rewrites targets' contexts once the definition was fetched. The
//! fetch itself runs on the engine (`driver::remote`), as buildx does it.

use std::collections::BTreeMap;

use super::model::Target;
use super::BakeError;

/// A git remote as BuildKit's `dfgitutil.ParseGitRef` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    /// The remote without its fragment (`https://host/org/repo.git`).
    pub remote: String,
    /// `https`, `http`, `git` or `ssh`.
    pub scheme: &'static str,
    /// `host[:port]` (`GIT_AUTH_TOKEN.<host>` names the secret for it).
    pub host: String,
    /// `host/path` without the scheme or user: the source op's identifier.
    pub identifier: String,
    pub reference: String,
    pub subdir: String,
}

/// Parses a git reference, or says it is not one.
pub fn parse_git_ref(text: &str) -> Option<GitRef> {
    if text.starts_with("./") || text.starts_with("../") {
        return None;
    }
    let (base, fragment) = match text.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (text, None),
    };
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, s)) => (r.to_string(), s.to_string()),
            None => (f.to_string(), String::new()),
        },
        None => (String::new(), String::new()),
    };
    let (scheme, remote, rest) = if let Some(rest) = base.strip_prefix("github.com/") {
        ("https", format!("https://github.com/{rest}"), format!("github.com/{rest}"))
    } else if let Some((scheme, rest)) = base.split_once("://") {
        let scheme = match scheme {
            "https" => "https",
            "http" => "http",
            "git" => "git",
            "ssh" => "ssh",
            _ => return None,
        };
        // Query strings are BuildKit's newer spelling of the fragment; the path decides.
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        if matches!(scheme, "http" | "https") && !path.ends_with(".git") {
            return None;
        }
        (scheme, base.to_string(), rest.to_string())
    } else {
        // scp-like `user@host:path`.
        let (user_host, path) = base.split_once(':')?;
        let (user, host) = user_host.split_once('@')?;
        if user.is_empty() || host.is_empty() || host.contains('/') || path.is_empty() {
            return None;
        }
        ("ssh", base.to_string(), format!("{host}/{path}"))
    };
    let without_user = rest.split_once('@').filter(|(user, _)| !user.contains('/')).map_or(rest.as_str(), |(_, r)| r);
    let without_query = without_user.split_once('?').map_or(without_user, |(p, _)| p);
    let host = without_query.split('/').next().unwrap_or_default().to_string();
    if host.is_empty() {
        return None;
    }
    Some(GitRef { remote, scheme, host, identifier: without_query.to_string(), reference, subdir })
}

/// buildx's `urlutil.IsRemoteURL`: an `http(s)://` URL or a git reference.
pub fn is_remote_url(text: &str) -> bool {
    text.starts_with("https://") || text.starts_with("http://") || parse_git_ref(text).is_some()
}

/// Splits bake's positional arguments as buildx does: a first remote URL is the
/// definition, a second one the command context (`BAKE_CMD_CONTEXT`, else
/// `cwd://`), the rest are targets.
pub fn split_args(args: &[String]) -> (Option<String>, String, Vec<String>) {
    let mut rest = args;
    let mut url = None;
    let mut cmd_context = "cwd://".to_string();
    if let Some(first) = rest.first().filter(|a| is_remote_url(a)) {
        url = Some(first.clone());
        rest = &rest[1..];
        if let Some(second) = rest.first().filter(|a| is_remote_url(a)) {
            cmd_context = second.clone();
            rest = &rest[1..];
        }
    }
    (url, cmd_context, rest.to_vec())
}

/// What the engine fetches for a remote definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Git(GitRef),
    /// Downloaded as the file `context`: a single definition, or a tarball of them.
    Http(String),
}

impl Source {
    pub fn of(url: &str) -> Result<Source, BakeError> {
        if let Some(git) = parse_git_ref(url) {
            return Ok(Source::Git(git));
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(Source::Http(url.to_string()));
        }
        Err(BakeError::NotAUrl(url.to_string()))
    }
}

/// The fetched definition, as targets build from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A git repository: contexts inside it become git URLs into it.
    Git(String),
    /// An unpacked tarball: there is no URL to name its contents by, so
    /// contexts inside it cannot be built (buildx sends its LLB state instead).
    Archive(String),
    /// One file: contexts stay local, as with a local definition.
    File,
}

/// buildx's `remoteURLWithSubdir`: a git URL pointing at `subdir` of the tree
/// it already points at (the fragment's, or `?subdir=`'s, joined).
pub fn remote_url_with_subdir(url: &str, subdir: &str) -> String {
    let subdir = crate::hcl::functions::clean_path(subdir);
    if subdir == "." || url.is_empty() {
        return url.to_string();
    }
    let Some(git) = parse_git_ref(url) else {
        return url.to_string();
    };
    let (base, query) = match url.split_once('#') {
        Some(_) => (url, None),
        None => match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        },
    };
    let query_subdir = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("subdir=")));
    let existing = if git.subdir.is_empty() { query_subdir.unwrap_or_default().to_string() } else { git.subdir.clone() };
    let joined = if existing.is_empty() { subdir } else { crate::hcl::functions::clean_path(&format!("{existing}/{subdir}")) };
    if let (Some(query), Some(_)) = (query, query_subdir) {
        let replaced: Vec<String> =
            query.split('&').map(|kv| if kv.starts_with("subdir=") { format!("subdir={joined}") } else { kv.to_string() }).collect();
        return format!("{base}?{}", replaced.join("&"));
    }
    let (base, fragment) = url.split_once('#').unwrap_or((url, ""));
    let reference = fragment.split_once(':').map_or(fragment, |(r, _)| r);
    format!("{base}#{reference}:{joined}")
}

/// buildx's `updateContext` for one path of a target of a remote definition:
/// the URL a local path stands for inside the definition's repository (`.` is
/// the definition's URL, other paths subdirectories of it), or `None` for
/// paths that stay as they are (`cwd://`, images, links, other URLs, and every
/// path of a single-file definition).
pub fn context_in(input: &Input, path: &str, target: &str) -> Result<Option<String>, BakeError> {
    let url = match input {
        Input::File => return Ok(None),
        Input::Git(url) | Input::Archive(url) => url,
    };
    if path.starts_with("cwd://") || path.starts_with("target:") || path.starts_with("docker-image:") || is_remote_url(path) {
        return Ok(None);
    }
    if matches!(input, Input::Archive(_)) {
        return Err(BakeError::InsideTarball { target: target.to_string(), path: path.to_string(), url: url.clone() });
    }
    Ok(Some(remote_url_with_subdir(url, path)))
}

/// The named contexts of a target of a remote definition, as it builds (buildx
/// rewrites them for the build only; `--print` shows them as written).
pub fn update_named_contexts(t: &mut Target, input: &Input) -> Result<(), BakeError> {
    for value in t.contexts.values_mut() {
        if let Some(remote) = context_in(input, value, &t.name)? {
            *value = remote;
        }
    }
    Ok(())
}

/// The secrets buildx adds for a git definition on an HTTP(S) host: the
/// `BUILDX_BAKE_GIT_AUTH_TOKEN` and `_HEADER` variables (their names matched
/// without case) as the secrets BuildKit's git source looks up,
/// `GIT_AUTH_TOKEN.<host>` and `GIT_AUTH_HEADER.<host>`. Secret id → the
/// variable's name as the environment spells it.
pub fn git_auth_secrets(url: &str, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let Some(git) = parse_git_ref(url) else {
        return Vec::new();
    };
    let mut secrets = Vec::new();
    for (id, variable) in [("GIT_AUTH_TOKEN", "BUILDX_BAKE_GIT_AUTH_TOKEN"), ("GIT_AUTH_HEADER", "BUILDX_BAKE_GIT_AUTH_HEADER")] {
        if let Some(key) = env.keys().find(|k| k.eq_ignore_ascii_case(variable)) {
            secrets.push((format!("{id}.{}", git.host), key.clone()));
        }
    }
    secrets
}

/// buildx's `shouldAttachGitAuthSecrets`: a target built from a git URL on the
/// definition's host gets the definition's auth secrets too.
pub fn shares_git_host(definition: &str, context: &str) -> bool {
    match (parse_git_ref(definition), parse_git_ref(context)) {
        (Some(a), Some(b)) => a.host.eq_ignore_ascii_case(&b.host),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_refs_are_read_as_buildkit_reads_them() {
        let g = parse_git_ref("https://github.com/org/repo.git#main:sub/dir").unwrap();
        assert_eq!((g.scheme, g.host.as_str(), g.reference.as_str(), g.subdir.as_str()), ("https", "github.com", "main", "sub/dir"));
        assert_eq!(g.remote, "https://github.com/org/repo.git");
        assert_eq!(g.identifier, "github.com/org/repo.git");
        let g = parse_git_ref("git@github.com:org/repo.git#v1").unwrap();
        assert_eq!((g.scheme, g.host.as_str(), g.identifier.as_str(), g.reference.as_str()), ("ssh", "github.com", "github.com/org/repo.git", "v1"));
        let g = parse_git_ref("http://127.0.0.1:8080/r.git").unwrap();
        assert_eq!(g.host, "127.0.0.1:8080");
        assert_eq!(parse_git_ref("github.com/org/repo").unwrap().remote, "https://github.com/org/repo");
        // An https URL that does not end in .git is a file, not a repository.
        assert!(parse_git_ref("https://example.com/docker-bake.hcl").is_none());
        assert!(is_remote_url("https://example.com/docker-bake.hcl"));
        for local in ["./x", "../x", "dir", "docker-bake.hcl", "cwd://x", "target:base"] {
            assert!(!is_remote_url(local), "{local}");
        }
    }

    #[test]
    fn arguments_split_into_definition_command_context_and_targets() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(split_args(&args(&["app"])), (None, "cwd://".into(), args(&["app"])));
        assert_eq!(split_args(&args(&["https://h/r.git", "app"])), (Some("https://h/r.git".into()), "cwd://".into(), args(&["app"])));
        assert_eq!(
            split_args(&args(&["https://h/r.git", "https://h/c.git#main", "a", "b"])),
            (Some("https://h/r.git".into()), "https://h/c.git#main".into(), args(&["a", "b"]))
        );
    }

    #[test]
    fn subdirectories_join_the_fragment() {
        assert_eq!(remote_url_with_subdir("https://h/r.git", "app"), "https://h/r.git#:app");
        assert_eq!(remote_url_with_subdir("https://h/r.git#main", "./app/"), "https://h/r.git#main:app");
        assert_eq!(remote_url_with_subdir("https://h/r.git#main:base", "app"), "https://h/r.git#main:base/app");
        assert_eq!(remote_url_with_subdir("https://h/r.git?ref=main&subdir=base", "app"), "https://h/r.git?ref=main&subdir=base/app");
        assert_eq!(remote_url_with_subdir("https://h/r.git#main", "."), "https://h/r.git#main");
    }

    #[test]
    fn contexts_inside_a_git_definition_become_urls() {
        let git = Input::Git("https://h/r.git#main".into());
        let at = |path: &str| context_in(&git, path, "app").unwrap();
        assert_eq!(at(".").as_deref(), Some("https://h/r.git#main"));
        assert_eq!(at("./").as_deref(), Some("https://h/r.git#main"));
        assert_eq!(at("lib").as_deref(), Some("https://h/r.git#main:lib"));
        for kept in ["cwd://lib", "docker-image://alpine", "target:base", "https://h/other.git"] {
            assert_eq!(at(kept), None, "{kept}");
        }
        assert_eq!(context_in(&Input::File, ".", "app").unwrap(), None);
        let mut t = Target { name: "app".into(), ..Target::default() };
        t.contexts.insert("sub".into(), "lib".into());
        update_named_contexts(&mut t, &git).unwrap();
        assert_eq!(t.contexts["sub"], "https://h/r.git#main:lib");
        let err = context_in(&Input::Archive("https://h/defs.tar.gz".into()), "sub", "app").unwrap_err().to_string();
        assert!(err.contains("tarball definition https://h/defs.tar.gz"), "{err}");
    }

    #[test]
    fn auth_variables_become_the_git_sources_secrets() {
        let env: BTreeMap<String, String> =
            [("buildx_bake_git_auth_token".to_string(), "t".to_string()), ("BUILDX_BAKE_GIT_AUTH_HEADER".to_string(), "h".to_string())].into();
        assert_eq!(
            git_auth_secrets("http://127.0.0.1:9/r.git", &env),
            vec![
                ("GIT_AUTH_TOKEN.127.0.0.1:9".to_string(), "buildx_bake_git_auth_token".to_string()),
                ("GIT_AUTH_HEADER.127.0.0.1:9".to_string(), "BUILDX_BAKE_GIT_AUTH_HEADER".to_string())
            ]
        );
        assert!(git_auth_secrets("https://example.com/defs.hcl", &env).is_empty());
        assert!(shares_git_host("https://GitHub.com/a/b.git", "git@github.com:a/c.git"));
    }
}
