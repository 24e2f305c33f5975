//! File ops: mkdir, mkfile, copy and rm, chained into one op.

use crate::proto::pb;

use super::caps::LlbCap;
use super::state::{join_path, join_path_owned, InputList, Output, State, Vertex, VertexMeta};

/// A user or group, by numeric id or by name (looked up in `/etc/passwd` and
/// `/etc/group` of the file op's base: the filesystem before its first action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(u32),
    Name(String),
}

/// Who owns what a file action creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chown {
    pub user: UserRef,
    /// Without a group, a numeric user sets the gid to the same id.
    pub group: Option<UserRef>,
}

impl Chown {
    pub fn ids(uid: u32, gid: u32) -> Chown {
        Chown { user: UserRef::Id(uid), group: Some(UserRef::Id(gid)) }
    }

    /// Whether the engine must read `/etc/passwd` of the base to apply it.
    pub fn needs_passwd(&self) -> bool {
        matches!(self.user, UserRef::Name(_)) || matches!(self.group, Some(UserRef::Name(_)))
    }
}

/// Options of one copy, defaulting to what `COPY` does.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub chown: Option<Chown>,
    /// Permission bits for everything copied; `None` keeps the source's.
    pub mode: Option<u32>,
    pub follow_symlinks: bool,
    /// Copying a directory copies its contents, not the directory itself.
    pub dir_contents_only: bool,
    pub create_dest_path: bool,
    pub allow_wildcard: bool,
    pub allow_empty_wildcard: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// Unix nanoseconds for every copied file (SOURCE_DATE_EPOCH).
    pub timestamp: Option<i64>,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            chown: None,
            mode: None,
            follow_symlinks: true,
            dir_contents_only: true,
            create_dest_path: true,
            allow_wildcard: true,
            allow_empty_wildcard: true,
            include: Vec::new(),
            exclude: Vec::new(),
            timestamp: None,
        }
    }
}

/// A sequence of file actions applied one after the other, marshalled as one FileOp.
///
/// The actions are kept as the op sends them, so applying the chain moves
/// them into the op: only what depends on the base (paths relative to its
/// cwd, input indexes, owners by name) is filled in then.
#[derive(Debug, Clone, Default)]
pub struct FileChain {
    actions: Vec<pb::FileAction>,
    /// The source of each copy action, in order (`None`: scratch).
    copied: Vec<Option<Output>>,
    /// SOURCE_DATE_EPOCH in Unix nanoseconds, for what the chain creates.
    epoch: Option<i64>,
}

impl FileChain {
    pub fn new() -> FileChain {
        FileChain::default()
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    fn push(mut self, action: pb::file_action::Action) -> FileChain {
        self.actions.push(pb::FileAction { action: Some(action), ..Default::default() });
        self
    }

    /// Copies `src` (absolute in `source`) to `dest` (relative to the target's cwd).
    pub fn copy(mut self, source: &State, src: &str, dest: impl Into<String>, options: CopyOptions) -> FileChain {
        let CopyOptions {
            chown,
            mode,
            follow_symlinks,
            dir_contents_only,
            create_dest_path,
            allow_wildcard,
            allow_empty_wildcard,
            include,
            exclude,
            timestamp,
        } = options;
        self.copied.push(source.output().cloned());
        self.push(pb::file_action::Action::Copy(pb::FileActionCopy {
            src: join_path("/", src),
            dest: dest.into(),
            owner: chown_to_pb(chown),
            mode: mode.map_or(-1, |m| m as i32),
            follow_symlink: follow_symlinks,
            dir_copy_contents: dir_contents_only,
            create_dest_path,
            allow_wildcard,
            allow_empty_wildcard,
            timestamp: timestamp.unwrap_or(-1),
            include_patterns: include,
            exclude_patterns: exclude,
            ..Default::default()
        }))
    }

    pub fn mkdir(self, path: impl Into<String>, mode: u32, parents: bool, chown: Option<Chown>) -> FileChain {
        self.push(pb::file_action::Action::Mkdir(pb::FileActionMkDir {
            path: path.into(),
            mode: mode as i32,
            make_parents: parents,
            owner: chown_to_pb(chown),
            timestamp: -1,
        }))
    }

    pub fn mkfile(self, path: &str, mode: u32, data: impl Into<Vec<u8>>, chown: Option<Chown>) -> FileChain {
        self.push(pb::file_action::Action::Mkfile(pb::FileActionMkFile {
            path: path.into(),
            mode: mode as i32,
            data: data.into(),
            owner: chown_to_pb(chown),
            timestamp: -1,
        }))
    }

    pub fn rm(self, path: &str, allow_not_found: bool, allow_wildcard: bool) -> FileChain {
        self.push(pb::file_action::Action::Rm(pb::FileActionRm { path: path.into(), allow_not_found, allow_wildcard }))
    }

    /// Gives what the chain creates (directories, files, copies) the time
    /// `timestamp` (Unix nanoseconds: SOURCE_DATE_EPOCH) where an action sets
    /// none, and gives it back to the directories they are created in, whose
    /// modification time creating an entry sets to the time of the build: so
    /// the layer does not depend on when it was built.
    pub fn stamped(mut self, timestamp: Option<i64>) -> FileChain {
        self.epoch = timestamp;
        self
    }

    /// The chain with the epoch applied, relative paths under `cwd`: each
    /// action stamped, then each directory an action creates entries in
    /// re-stamped by copying an empty directory onto it (BuildKit 0.11+ sets a
    /// directory it copies into to the copy's time without touching its owner
    /// or mode; older engines leave it as it was).
    fn with_epoch(mut self, cwd: &str) -> FileChain {
        let Some(at) = self.epoch else { return self };
        use pb::file_action::Action as A;
        let mut parents: Vec<String> = Vec::new();
        for action in self.actions.iter_mut().filter_map(|a| a.action.as_mut()) {
            let (path, into_dir) = match action {
                A::Mkdir(pb::FileActionMkDir { path, timestamp, .. }) | A::Mkfile(pb::FileActionMkFile { path, timestamp, .. }) => {
                    stamp(timestamp, at);
                    (join_path(cwd, path), false)
                }
                A::Copy(copy) => {
                    stamp(&mut copy.timestamp, at);
                    (join_path(cwd, &copy.dest), copy.dest.ends_with('/'))
                }
                A::Rm(_) | A::Symlink(_) => continue,
            };
            let path = path.trim_end_matches('/');
            let dirs = path.match_indices('/').map(|(i, _)| &path[..i]).filter(|d| !d.is_empty());
            for dir in dirs.chain((into_dir && !path.is_empty()).then_some(path)) {
                if !parents.iter().any(|p| p == dir) {
                    parents.push(dir.to_string());
                }
            }
        }
        let touch = CopyOptions {
            follow_symlinks: false,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            create_dest_path: false,
            timestamp: Some(at),
            ..CopyOptions::default()
        };
        let scratch = State::scratch();
        for dir in parents {
            self = self.copy(&scratch, "/", dir, touch.clone());
        }
        self
    }

    /// Builds the FileOp on `base`. An empty chain leaves `base` unchanged.
    pub(crate) fn apply(self, base: &State, meta: VertexMeta) -> State {
        if self.actions.is_empty() {
            return base.clone();
        }
        let mut meta = meta;
        meta.caps.insert(LlbCap::FileBase);
        let cwd = base.get_cwd();
        let FileChain { mut actions, copied, .. } = self.with_epoch(cwd);
        let mut inputs = InputList::default();
        let base_input = inputs.index_of(base.output());
        for action in actions.iter_mut().filter_map(|a| a.action.as_mut()) {
            finish(action, base_input, cwd, &mut meta);
        }
        for source in &copied {
            inputs.index_of(source.as_ref());
        }
        let input_count = inputs.len() as i64;
        let last = actions.len() - 1;
        let mut sources = copied.iter();
        for (j, action) in actions.iter_mut().enumerate() {
            // Each action works on the previous action's result; the first on the base.
            action.input = if j == 0 { base_input } else { input_count + j as i64 - 1 };
            action.output = if j == last { 0 } else { -1 };
            action.secondary_input = match action.action {
                Some(pb::file_action::Action::Copy(_)) => inputs.index_of(sources.next().and_then(Option::as_ref)),
                _ => -1,
            };
        }
        let op = pb::op::Op::File(pb::FileOp { actions });
        let vertex = Vertex::new(inputs.into_outputs(), op, None, meta);
        base.with_output(Some(Output { vertex, index: 0 }))
    }
}

/// Sets a time an action leaves to the engine (`-1`).
fn stamp(timestamp: &mut i64, at: i64) {
    if *timestamp == -1 {
        *timestamp = at;
    }
}

/// An owner as the op sends it; a name's input is the base's, set by [`finish`].
fn chown_to_pb(chown: Option<Chown>) -> Option<pb::ChownOpt> {
    let user_opt = |r: UserRef| pb::UserOpt {
        user: Some(match r {
            UserRef::Id(id) => pb::user_opt::User::ById(id),
            UserRef::Name(name) => pb::user_opt::User::ByName(pb::NamedUserOpt { name, input: -1 }),
        }),
    };
    chown.map(|c| pb::ChownOpt { user: Some(user_opt(c.user)), group: c.group.map(user_opt) })
}

/// What an action's message takes from the base: paths relative to its cwd
/// joined to it, owners by name looked up in it (as BuildKit's own client
/// marshals them: an earlier action's output is not a valid index there), caps.
fn finish(action: &mut pb::file_action::Action, base: i64, cwd: &str, meta: &mut VertexMeta) {
    use pb::file_action::Action as A;
    let (path, owner) = match action {
        A::Copy(copy) => {
            if !copy.include_patterns.is_empty() || !copy.exclude_patterns.is_empty() {
                meta.caps.insert(LlbCap::FileCopyIncludeExcludePatterns);
            }
            (&mut copy.dest, copy.owner.as_mut())
        }
        A::Mkdir(mkdir) => (&mut mkdir.path, mkdir.owner.as_mut()),
        A::Mkfile(mkfile) => (&mut mkfile.path, mkfile.owner.as_mut()),
        A::Rm(rm) => (&mut rm.path, None),
        // A chain makes no links.
        A::Symlink(_) => return,
    };
    *path = join_path_owned(cwd, std::mem::take(path));
    for user in owner.into_iter().flat_map(|o| [o.user.as_mut(), o.group.as_mut()]).flatten() {
        if let Some(pb::user_opt::User::ByName(named)) = &mut user.user {
            named.input = base;
        }
    }
}
