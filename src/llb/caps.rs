//! LLB capabilities: what an op needs from the engine, and what the engine offers.

use std::collections::BTreeSet;

/// The LLB caps this builder can ask for. Names are BuildKit's (`solver/pb/caps.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LlbCap {
    SourceImage,
    SourceImageResolveMode,
    SourceLocal,
    SourceLocalSessionId,
    SourceLocalIncludePatterns,
    SourceLocalExcludePatterns,
    SourceLocalFollowPaths,
    SourceLocalSharedKeyHint,
    SourceGit,
    SourceGitKeepDir,
    SourceGitFullUrl,
    SourceHttp,
    SourceHttpChecksum,
    SourceHttpPerm,
    SourceHttpUidGid,
    ExecMetaBase,
    ExecMetaNetwork,
    ExecMountBind,
    ExecMountBindReadWriteNoOutput,
    ExecMountCache,
    ExecMountCacheSharing,
    ExecMountSelector,
    ExecMountTmpfs,
    ExecMountSecret,
    ExecMountSsh,
    ExecMountTmpfsSize,
    ExecSecretEnv,
    FileBase,
    FileCopyIncludeExcludePatterns,
    MergeOp,
    DiffOp,
    Constraints,
    Platform,
    MetaIgnoreCache,
    MetaDescription,
    /// The image exporter honours SOURCE_DATE_EPOCH (BuildKit 0.11+). It also
    /// tells an engine that knows `Meta.removeMountStubsRecursive`, whose own
    /// cap (`exec.meta.removemountstubs.recursive`) BuildKit declares but never
    /// advertises.
    ExporterSourceDateEpoch,
}

impl LlbCap {
    /// Every cap, in declaration order (a [`CapSet`]'s bit order).
    pub const ALL: [LlbCap; 36] = {
        use LlbCap::*;
        [
            SourceImage, SourceImageResolveMode, SourceLocal, SourceLocalSessionId,
            SourceLocalIncludePatterns, SourceLocalExcludePatterns, SourceLocalFollowPaths,
            SourceLocalSharedKeyHint, SourceGit, SourceGitKeepDir, SourceGitFullUrl, SourceHttp,
            SourceHttpChecksum, SourceHttpPerm, SourceHttpUidGid, ExecMetaBase, ExecMetaNetwork,
            ExecMountBind, ExecMountBindReadWriteNoOutput, ExecMountCache, ExecMountCacheSharing,
            ExecMountSelector, ExecMountTmpfs, ExecMountSecret, ExecMountSsh, ExecMountTmpfsSize,
            ExecSecretEnv, FileBase, FileCopyIncludeExcludePatterns, MergeOp, DiffOp, Constraints,
            Platform, MetaIgnoreCache, MetaDescription, ExporterSourceDateEpoch,
        ]
    };

    pub fn id(self) -> &'static str {
        match self {
            LlbCap::SourceImage => "source.image",
            LlbCap::SourceImageResolveMode => "source.image.resolvemode",
            LlbCap::SourceLocal => "source.local",
            LlbCap::SourceLocalSessionId => "source.local.sessionid",
            LlbCap::SourceLocalIncludePatterns => "source.local.includepatterns",
            LlbCap::SourceLocalExcludePatterns => "source.local.excludepatterns",
            LlbCap::SourceLocalFollowPaths => "source.local.followpaths",
            LlbCap::SourceLocalSharedKeyHint => "source.local.sharedkeyhint",
            LlbCap::SourceGit => "source.git",
            LlbCap::SourceGitKeepDir => "source.git.keepgitdir",
            LlbCap::SourceGitFullUrl => "source.git.fullurl",
            LlbCap::SourceHttp => "source.http",
            LlbCap::SourceHttpChecksum => "source.http.checksum",
            LlbCap::SourceHttpPerm => "source.http.perm",
            // Misspelled upstream; the engine only knows this spelling.
            LlbCap::SourceHttpUidGid => "soruce.http.uidgid",
            LlbCap::ExecMetaBase => "exec.meta.base",
            LlbCap::ExecMetaNetwork => "exec.meta.network",
            LlbCap::ExecMountBind => "exec.mount.bind",
            LlbCap::ExecMountBindReadWriteNoOutput => "exec.mount.bind.readwrite-nooutput",
            LlbCap::ExecMountCache => "exec.mount.cache",
            LlbCap::ExecMountCacheSharing => "exec.mount.cache.sharing",
            LlbCap::ExecMountSelector => "exec.mount.selector",
            LlbCap::ExecMountTmpfs => "exec.mount.tmpfs",
            LlbCap::ExecMountSecret => "exec.mount.secret",
            LlbCap::ExecMountSsh => "exec.mount.ssh",
            LlbCap::ExecMountTmpfsSize => "exec.mount.tmpfs.size",
            LlbCap::ExecSecretEnv => "exec.secretenv",
            LlbCap::FileBase => "file.base",
            LlbCap::FileCopyIncludeExcludePatterns => "file.copy.includeexcludepatterns",
            LlbCap::MergeOp => "mergeop",
            LlbCap::DiffOp => "diffop",
            LlbCap::Constraints => "constraints",
            LlbCap::Platform => "platform",
            LlbCap::MetaIgnoreCache => "meta.ignorecache",
            LlbCap::MetaDescription => "meta.description",
            LlbCap::ExporterSourceDateEpoch => "exporter.sourcedateepoch",
        }
    }
}

/// The caps one op needs: a set kept in one word (an op's caps cost no allocation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(u64);

impl CapSet {
    pub fn insert(&mut self, cap: LlbCap) {
        self.0 |= 1 << cap as u32;
    }

    pub fn contains(&self, cap: LlbCap) -> bool {
        self.0 & (1 << cap as u32) != 0
    }

    /// The caps in the set, in [`LlbCap`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = LlbCap> + '_ {
        LlbCap::ALL.into_iter().filter(|c| self.contains(*c))
    }
}

/// The caps an engine reported as present and enabled (from `Ping`).
///
/// Builders consult it to choose a fallback (merge → copy) instead of sending an
/// op the engine would reject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    enabled: BTreeSet<String>,
}

impl Caps {
    pub fn from_ids<I, S>(ids: I) -> Caps
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Caps { enabled: ids.into_iter().map(Into::into).collect() }
    }

    /// Every cap this builder knows: what a current BuildKit offers. Used offline
    /// (`leaven llb`) where no engine is asked.
    pub fn current() -> Caps {
        Caps::from_ids(LlbCap::ALL.iter().map(|c| c.id()))
    }

    pub fn has(&self, cap: LlbCap) -> bool {
        self.enabled.contains(cap.id())
    }

    /// The caps of `self` that `engine` lacks, by id.
    pub fn missing_from(&self, engine: &Caps) -> Vec<String> {
        self.enabled.difference(&engine.enabled).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_set_holds_every_cap_in_order() {
        assert!(LlbCap::ALL.iter().enumerate().all(|(i, c)| *c as usize == i), "ALL is in declaration order");
        let mut set = CapSet::default();
        set.insert(LlbCap::ExporterSourceDateEpoch);
        set.insert(LlbCap::SourceImage);
        set.insert(LlbCap::SourceImage);
        assert_eq!(set.iter().collect::<Vec<_>>(), [LlbCap::SourceImage, LlbCap::ExporterSourceDateEpoch]);
    }
}
