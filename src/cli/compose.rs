//! `leaven compose`: the compose files of a spec's variants and `leaven.mk`,
//! written beside the spec (or in `-o DIR`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::CliError;
use crate::stack::{self, Layout};

pub struct ComposeRequest {
    pub spec: PathBuf,
    /// One variant (`dev`, `ci`, `release`, …); `None`: every one.
    pub variant: Option<String>,
    pub out_dir: Option<PathBuf>,
    pub force: bool,
    pub build_args: BTreeMap<String, String>,
}

/// Writes the files and says which, one line each.
pub fn compose(request: &ComposeRequest) -> Result<String, CliError> {
    let loaded = super::load(&request.spec, &request.build_args)?;
    let spec = &loaded.spec;
    let absolute = |p: &Path| std::path::absolute(p).map(|p| clean(&p)).map_err(|error| CliError::Path { path: p.to_path_buf(), what: "", error });
    let spec_path = absolute(&request.spec)?;
    let spec_dir = spec_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
    let out_dir = match &request.out_dir {
        Some(dir) => absolute(dir)?,
        None => spec_dir.clone(),
    };
    std::fs::create_dir_all(&out_dir).map_err(|error| CliError::Path { path: out_dir.clone(), what: "cannot make the directory: ", error })?;
    let dir_name = spec_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let layout = Layout {
        spec_file: loaded.file.name.clone(),
        context: relative(&out_dir, &spec_dir),
        project: stack::compose::project_name(&dir_name),
        build_args: request.build_args.clone(),
    };
    let variants = match &request.variant {
        Some(v) => vec![v.clone()],
        None => stack::variant_names(spec),
    };
    // Everything is made before anything is written: a bad variant writes nothing.
    let mut files = Vec::new();
    for variant in &variants {
        files.push((stack::compose_file_name(variant), stack::compose_file(spec, variant, &layout)?));
    }
    files.push(("leaven.mk".to_string(), stack::makefile(spec, &layout.spec_file)));
    let mut said = String::new();
    for (name, text) in &files {
        let path = out_dir.join(name);
        stack::write_generated(&path, text, request.force)?;
        said.push_str(&format!("wrote {}\n", path.display()));
    }
    Ok(said)
}

/// `..` and `.` resolved by the text alone (the directories may not exist yet).
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `to` as seen from `from` (both absolute and clean): `.`, `..`, `../app`.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_directory_from_the_output_directory() {
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), ".");
        assert_eq!(relative(Path::new("/a/b/deploy"), Path::new("/a/b")), "..");
        assert_eq!(relative(Path::new("/a/out"), Path::new("/a/app")), "../app");
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
