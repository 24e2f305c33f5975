//! `BUILDX_BAKE_FILE_RELATIVE_PATHS=1` (buildx 0.36): a target's local
//! `context` and `contexts` are relative to the directory of the file that
//! defines them (Compose targets: the first Compose file's), instead of the
//! working directory. `--set` values stay relative to the working directory.

use super::remote::is_remote_url;
use super::BakeError;

/// Reads the variable as buildx does (`strconv.ParseBool`); unset or empty is off.
pub fn enabled(value: Option<&str>) -> Result<bool, BakeError> {
    let value = value.unwrap_or_default().trim();
    if value.is_empty() {
        return Ok(false);
    }
    super::model::parse_go_bool(value)
        .ok_or_else(|| BakeError::NotABool { name: "BUILDX_BAKE_FILE_RELATIVE_PATHS", value: value.to_string() })
}

/// The directory paths in a definition file are relative to; none for stdin
/// and for a definition fetched by URL.
pub fn file_dir(name: &str) -> Option<String> {
    if name.is_empty() || name == "-" || is_remote_url(name) {
        return None;
    }
    Some(match std::path::Path::new(name).parent().map(|p| p.to_string_lossy().into_owned()) {
        Some(dir) if !dir.is_empty() => dir,
        _ => ".".to_string(),
    })
}

/// buildx's `rebaseContextPath`: a local relative path joined onto `base` and
/// cleaned; absolute paths, `cwd://`, links, images, OCI layouts and URLs as they are.
pub fn rebase(base: &str, path: &str) -> String {
    let special = ["cwd://", "target:", "docker-image:", "oci-layout://"].iter().any(|p| path.starts_with(p));
    if base.is_empty() || path.is_empty() || special || path.starts_with('/') || is_remote_url(path) {
        return path.to_string();
    }
    crate::hcl::functions::clean_path(&format!("{base}/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_files_directory() {
        assert_eq!(file_dir("docker-bake.hcl").as_deref(), Some("."));
        assert_eq!(file_dir("sub/dir/docker-bake.hcl").as_deref(), Some("sub/dir"));
        assert_eq!(file_dir("../x/docker-bake.hcl").as_deref(), Some("../x"));
        assert_eq!(file_dir("-"), None);
        assert_eq!(file_dir("https://example.com/docker-bake.hcl"), None);
        assert_eq!(rebase("sub", "./app/"), "sub/app");
        assert_eq!(rebase("sub", "."), "sub");
        assert_eq!(rebase("sub", ".."), ".");
        assert_eq!(rebase("../x", "app"), "../x/app");
        for kept in ["/abs", "cwd://app", "target:base", "docker-image://alpine", "oci-layout://dir", "https://h/r.git"] {
            assert_eq!(rebase("sub", kept), kept);
        }
    }

    #[test]
    fn the_variable_is_a_go_boolean() {
        let on = |value| enabled(value).map_err(|e| e.to_string());
        assert_eq!(on(None), Ok(false));
        assert_eq!(on(Some(" ")), Ok(false));
        assert_eq!(on(Some("1")), Ok(true));
        assert_eq!(on(Some("TRUE")), Ok(true));
        assert_eq!(on(Some("0")), Ok(false));
        let err = enabled(Some("yes")).unwrap_err().to_string();
        assert_eq!(err, "failed to parse BUILDX_BAKE_FILE_RELATIVE_PATHS value \"yes\": strconv.ParseBool: parsing \"yes\": invalid syntax");
    }
}
