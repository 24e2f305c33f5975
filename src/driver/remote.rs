//! Fetching a remote bake definition through the engine, as buildx does: an
//! internal solve whose client-side gateway build solves the git (or HTTP)
//! source and reads the bake files out of the result over the bridge. The
//! session serves the git credentials (`BUILDX_BAKE_GIT_AUTH_*`) as secrets.

use std::collections::BTreeMap;

use super::engine::Engine;
use super::DriverError;
use crate::bake::load::DEFAULT_FILES;
use crate::bake::remote::{Input, Source};
use crate::gateway::{GatewayClient, SolvedRef};
use crate::hcl::SourceFile;
use crate::llb::{GitSource, HttpSource};
use crate::proto::control::SolveRequest;
use crate::proto::gateway as gw;
use crate::session::{SecretSource, Services, Session};

/// buildx's limit on a definition fetched as a single file.
const MAX_DEFINITION_SIZE: i64 = 2 << 20;
/// The name BuildKit's HTTP source saves a download as (dockerui's `DetectHTTPContext`).
const HTTP_FILENAME: &str = "context";

/// What was fetched: the files (named as in the repository, or by the URL for
/// a single file) and what targets build from.
pub struct Fetched {
    pub files: Vec<SourceFile>,
    pub input: Input,
}

/// Fetches `url`'s bake files: `names` (as `-f` gives them, without `cwd://`),
/// or the default file names found in it. `env` supplies the auth variables.
pub async fn fetch(engine: &Engine, url: &str, names: &[String], env: &BTreeMap<String, String>) -> Result<Fetched, DriverError> {
    let failed = |message: String| DriverError::Engine(format!("cannot read the remote bake definition {url}: {message}"));
    let source = Source::of(url)?;
    let secrets: BTreeMap<String, SecretSource> = crate::bake::remote::git_auth_secrets(url, env)
        .into_iter()
        .map(|(id, variable)| (id, SecretSource::Env(env.get(&variable).cloned().unwrap_or_default())))
        .collect();
    let session = Session::new(String::new(), Services { secrets, ..Services::default() });
    let session_id = session.id.clone();
    let connection = engine.open_session(&session.headers()).await?;
    let serving = tokio::spawn(async move {
        let _ = session.serve(connection).await;
    });
    let build_ref = uuid::Uuid::new_v4().simple().to_string();
    let request = SolveRequest { r#ref: build_ref.clone(), session: session_id, internal: true, ..SolveRequest::default() };
    let mut control = engine.control();
    let solve = async move { control.solve(request).await };
    let read = async {
        let client = GatewayClient::new(engine.channel.clone(), Some(&build_ref)).map_err(|s| s.message().to_string())?;
        let read = read_files(&client, &source, url, names).await;
        let returned = match &read {
            Ok(_) => client.return_frontend_result(gw::Result::default()).await,
            Err(message) => client.return_error(crate::gateway::error_status(tonic::Code::Unknown, message.clone())).await,
        };
        returned.map_err(|s| s.message().to_string())?;
        read
    };
    let (solved, read) = tokio::join!(solve, read);
    serving.abort();
    let fetched = read.map_err(failed)?;
    solved.map_err(|s| failed(s.message().to_string()))?;
    Ok(fetched)
}

async fn read_files(client: &GatewayClient, source: &Source, url: &str, names: &[String]) -> Result<Fetched, String> {
    match source {
        Source::Git(git) => {
            let state = GitSource {
                remote: git.remote.clone(),
                reference: git.reference.clone(),
                subdir: git.subdir.clone(),
                auth_secrets: true,
                name: Some(format!("load git source {url}")),
                ..GitSource::default()
            }
            .state();
            let solved = solve(client, &state).await?;
            let files = files_in(client, &solved, names).await?;
            Ok(Fetched { files, input: Input::Git(url.to_string()) })
        }
        Source::Http(http) => {
            let state = HttpSource {
                url: http.clone(),
                filename: Some(HTTP_FILENAME.into()),
                name: Some("load remote build context".into()),
                ..HttpSource::default()
            }
            .state();
            let solved = solve(client, &state).await?;
            let stat = client.stat_file(&solved, HTTP_FILENAME).await.map_err(|s| s.message().to_string())?;
            let size = stat.map(|s| s.size).unwrap_or_default();
            let data = client.read_file(&solved, HTTP_FILENAME).await.map_err(|s| s.message().to_string())?;
            if is_archive(&data) {
                return Err("definitions in a tarball are not supported by leaven yet: point at a git repository or a single file".into());
            }
            if size > MAX_DEFINITION_SIZE {
                return Err(format!("a definition fetched as a single file may be at most 2MB; this one is {size} bytes"));
            }
            let text = String::from_utf8(data).map_err(|_| "the definition is not UTF-8 text".to_string())?;
            Ok(Fetched { files: vec![SourceFile::new(url, text)], input: Input::File })
        }
    }
}

async fn solve(client: &GatewayClient, state: &crate::llb::State) -> Result<SolvedRef, String> {
    let definition = crate::llb::marshal::definition(state, false);
    client.solve(definition, Vec::new(), true).await.map_err(|s| s.message().to_string())
}

/// The named files of a fetched tree, or the default ones it has (buildx's `filesFromRef`).
async fn files_in(client: &GatewayClient, solved: &SolvedRef, names: &[String]) -> Result<Vec<SourceFile>, String> {
    let defaults: Vec<String>;
    let (names, optional) = if names.is_empty() {
        defaults = DEFAULT_FILES.iter().map(|n| n.to_string()).collect();
        (&defaults[..], true)
    } else {
        (names, false)
    };
    let mut files = Vec::new();
    for name in names {
        match client.stat_file(solved, name).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) if optional => continue,
            Ok(None) => return Err(format!("{name}: no such file in the repository")),
            Err(status) => return Err(format!("{name}: {}", status.message())),
        }
        let data = client.read_file(solved, name).await.map_err(|s| format!("{name}: {}", s.message()))?;
        let text = String::from_utf8(data).map_err(|_| format!("{name} is not UTF-8 text"))?;
        files.push(SourceFile::new(name.clone(), text));
    }
    Ok(files)
}

/// buildx's `isArchive`: bzip2, gzip or xz magic, or a tar header.
fn is_archive(head: &[u8]) -> bool {
    let magic: [&[u8]; 3] = [&[0x42, 0x5A, 0x68], &[0x1F, 0x8B, 0x08], &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]];
    if magic.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    // A tar header: `ustar` at offset 257.
    head.len() >= 262 && &head[257..262] == b"ustar"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_recognised_by_their_first_bytes() {
        assert!(is_archive(&[0x1F, 0x8B, 0x08, 0]));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(is_archive(&tar));
        assert!(!is_archive(b"target \"default\" {}\n"));
    }
}
