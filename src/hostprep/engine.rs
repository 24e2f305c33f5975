//! What host-prep asks the engine about an image: its config's user, its
//! account files, and who owns the paths services mount over. Read from a
//! container that is created, never started, and removed.

use std::collections::BTreeMap;
use std::io::Read;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Empty, Full};

use crate::compile::AccountFiles;
use crate::transport::{self, Endpoint};

/// An image as host-prep sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFacts {
    pub reference: String,
    /// The config's `User` ("" for root).
    pub user: String,
    pub accounts: AccountFiles,
    /// Owner uid and gid of each asked path the image has, as the engine reports
    /// them: under a remap, host ids inside the ranges.
    pub owners: BTreeMap<String, (u32, u32)>,
}

/// Reads `paths`' owners and the account files of `image` on the engine.
pub async fn image_facts(endpoint: &Endpoint, image: &str, paths: &[String]) -> Result<ImageFacts, String> {
    let inspect = call(endpoint, Method::GET, &format!("/images/{image}/json"), None).await?;
    let config: serde_json::Value = match inspect {
        (404, _) => return Err(format!("image {image} is not on the engine at {endpoint}: pull or build it first, then run host-prep")),
        (200, body) => serde_json::from_slice(&body).map_err(|e| format!("image {image}: the engine's answer is not JSON: {e}"))?,
        (status, body) => return Err(format!("inspecting image {image}: {status} {}", String::from_utf8_lossy(&body).trim())),
    };
    let user = config.pointer("/Config/User").and_then(|u| u.as_str()).unwrap_or_default().to_string();
    // Never started: the command only has to exist for the create to pass. Removed with its
    // anonymous volumes (an image VOLUME makes one per container).
    let create = serde_json::json!({ "Image": image, "Entrypoint": ["/"], "Cmd": [], "Labels": { "leaven.host-prep": "1" } });
    let id = match call(endpoint, Method::POST, "/containers/create", Some(create.to_string())).await? {
        (201, body) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("Id").and_then(|i| i.as_str()).map(str::to_string))
            .ok_or_else(|| format!("creating a container of {image}: the engine gave no Id"))?,
        (status, body) => return Err(format!("creating a container of {image}: {status} {}", String::from_utf8_lossy(&body).trim())),
    };
    let read = read_container(endpoint, &id, paths).await;
    let removed = call(endpoint, Method::DELETE, &format!("/containers/{id}?force=1&v=1"), None).await;
    let (accounts, owners) = read.map_err(|e| format!("reading image {image}: {e}"))?;
    if let Ok((status, body)) = removed {
        if status >= 300 && status != 404 {
            return Err(format!("removing host-prep's container {id}: {status} {}", String::from_utf8_lossy(&body).trim()));
        }
    }
    Ok(ImageFacts { reference: image.into(), user, accounts, owners })
}

type ContainerFiles = (AccountFiles, BTreeMap<String, (u32, u32)>);

async fn read_container(endpoint: &Endpoint, id: &str, paths: &[String]) -> Result<ContainerFiles, String> {
    let file = |path: &'static str| async move {
        Ok::<_, String>(match archive(endpoint, id, path).await? {
            Some(tar) => first_entry(&tar, true)?.map(|(_, content)| String::from_utf8_lossy(&content).into_owned()),
            None => None,
        })
    };
    let accounts = AccountFiles { passwd: file("/etc/passwd").await?, group: file("/etc/group").await?, ..Default::default() };
    let mut owners = BTreeMap::new();
    for path in paths {
        if let Some(tar) = archive(endpoint, id, path).await? {
            if let Some((ids, _)) = first_entry(&tar, false)? {
                owners.insert(path.clone(), ids);
            }
        }
    }
    Ok((accounts, owners))
}

/// Most of an archive host-prep reads: a directory's first header comes
/// first, and account files are small.
const ARCHIVE_LIMIT: usize = 1 << 20;

/// `GET /containers/ID/archive?path=…`, its first [`ARCHIVE_LIMIT`] bytes;
/// `None` when the path is not in the image.
async fn archive(endpoint: &Endpoint, id: &str, path: &str) -> Result<Option<Vec<u8>>, String> {
    let query: String = path
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let request = format!("/containers/{id}/archive?path={query}");
    let response = transport::request(endpoint, Method::GET, &request, &[], Empty::<Bytes>::new()).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(None);
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    while out.len() < ARCHIVE_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    out.extend_from_slice(data);
                }
            }
            Some(Err(e)) => return Err(format!("GET {request}: {e}")),
            None => break,
        }
    }
    if status != 200 {
        return Err(format!("GET {request}: {status} {}", String::from_utf8_lossy(&out).trim()));
    }
    Ok(Some(out))
}

/// An archive entry's owner (uid, gid) and content.
type Entry = ((u32, u32), Vec<u8>);

/// The owner of an archive's first entry, and its content when asked.
fn first_entry(tar: &[u8], content: bool) -> Result<Option<Entry>, String> {
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries().map_err(|e| e.to_string())?;
    let Some(entry) = entries.next() else { return Ok(None) };
    let mut entry = entry.map_err(|e| format!("the engine's archive: {e}"))?;
    let header = entry.header();
    let ids = (
        header.uid().map_err(|e| e.to_string())? as u32,
        header.gid().map_err(|e| e.to_string())? as u32,
    );
    let mut data = Vec::new();
    if content {
        entry.read_to_end(&mut data).map_err(|e| format!("the engine's archive: {e}"))?;
    }
    Ok(Some((ids, data)))
}

/// One REST call with its whole answer: status and body.
async fn call(endpoint: &Endpoint, method: Method, path: &str, json: Option<String>) -> Result<(u16, Bytes), String> {
    let label = format!("{method} {path}");
    let response = match json {
        Some(json) => {
            let headers = [("Content-Type".to_string(), "application/json".to_string())];
            transport::request(endpoint, method, path, &headers, Full::new(Bytes::from(json))).await
        }
        None => transport::request(endpoint, method, path, &[], Empty::<Bytes>::new()).await,
    }
    .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| format!("{label}: {e}"))?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_entry_gives_its_owner_and_content() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_path("passwd").unwrap();
        header.set_size(5);
        header.set_uid(100999);
        header.set_gid(100998);
        header.set_cksum();
        builder.append(&header, &b"a:x:1"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        assert_eq!(first_entry(&tar, true).unwrap(), Some(((100999, 100998), b"a:x:1".to_vec())));
        // A truncated archive (a large directory cut at the limit) still has its first header.
        assert_eq!(first_entry(&tar[..512], false).unwrap(), Some(((100999, 100998), Vec::new())));
    }
}
