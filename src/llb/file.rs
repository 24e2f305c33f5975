//! File ops: mkdir, mkfile, copy and rm, chained into one op.

use crate::proto::pb;

use super::caps::LlbCap;
use super::state::{join_path, InputList, Output, State, Vertex, VertexMeta};

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

#[derive(Debug, Clone)]
enum Action {
    Copy { source: State, src: String, dest: String, options: Box<CopyOptions> },
    Mkdir { path: String, mode: u32, parents: bool, chown: Option<Chown>, timestamp: Option<i64> },
    Mkfile { path: String, mode: u32, data: Vec<u8>, chown: Option<Chown>, timestamp: Option<i64> },
    Rm { path: String, allow_not_found: bool, allow_wildcard: bool },
}

/// A sequence of file actions applied one after the other, marshalled as one FileOp.
#[derive(Debug, Clone, Default)]
pub struct FileChain {
    actions: Vec<Action>,
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

    /// Copies `src` (absolute in `source`) to `dest` (relative to the target's cwd).
    pub fn copy(mut self, source: &State, src: &str, dest: &str, options: CopyOptions) -> FileChain {
        self.actions.push(Action::Copy {
            source: source.clone(),
            src: src.to_string(),
            dest: dest.to_string(),
            options: Box::new(options),
        });
        self
    }

    pub fn mkdir(mut self, path: &str, mode: u32, parents: bool, chown: Option<Chown>) -> FileChain {
        self.actions.push(Action::Mkdir { path: path.into(), mode, parents, chown, timestamp: None });
        self
    }

    pub fn mkfile(mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>, chown: Option<Chown>) -> FileChain {
        self.actions.push(Action::Mkfile {
            path: path.into(),
            mode,
            data: data.into(),
            chown,
            timestamp: None,
        });
        self
    }

    pub fn rm(mut self, path: &str, allow_not_found: bool, allow_wildcard: bool) -> FileChain {
        self.actions.push(Action::Rm { path: path.into(), allow_not_found, allow_wildcard });
        self
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

    /// The chain's actions with the epoch applied, relative paths under `cwd`:
    /// each action stamped, then each directory an action creates entries in
    /// re-stamped by copying an empty directory onto it (BuildKit 0.11+ sets a
    /// directory it copies into to the copy's time without touching its owner
    /// or mode; older engines leave it as it was).
    fn with_epoch(self, cwd: &str) -> Vec<Action> {
        let Some(at) = self.epoch else { return self.actions };
        let mut actions = self.actions;
        let mut parents: Vec<String> = Vec::new();
        for action in &mut actions {
            let (path, into_dir) = match action {
                Action::Mkdir { path, timestamp, .. } | Action::Mkfile { path, timestamp, .. } => {
                    timestamp.get_or_insert(at);
                    (join_path(cwd, path), false)
                }
                Action::Copy { dest, options, .. } => {
                    options.timestamp.get_or_insert(at);
                    (join_path(cwd, dest), dest.ends_with('/'))
                }
                Action::Rm { .. } => continue,
            };
            let path = path.trim_end_matches('/').to_string();
            let mut dirs: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).filter(|d| !d.is_empty()).collect();
            if into_dir && !path.is_empty() {
                dirs.push(&path);
            }
            for dir in dirs {
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
        for dir in parents {
            let options = Box::new(touch.clone());
            actions.push(Action::Copy { source: State::scratch(), src: "/".into(), dest: dir, options });
        }
        actions
    }

    /// Builds the FileOp on `base`. An empty chain leaves `base` unchanged.
    pub(crate) fn apply(self, base: &State, meta: VertexMeta) -> State {
        if self.actions.is_empty() {
            return base.clone();
        }
        let cwd = base.get_cwd();
        let actions = self.with_epoch(cwd);
        let mut inputs = InputList::default();
        let base_input = inputs.index_of(base.output());
        let secondary: Vec<i64> = actions
            .iter()
            .map(|a| match a {
                Action::Copy { source, .. } => inputs.index_of(source.output()),
                _ => -1,
            })
            .collect();
        let input_count = inputs.len() as i64;

        let mut meta = meta;
        meta.caps.insert(LlbCap::FileBase);
        let last = actions.len() - 1;
        let actions = actions
            .into_iter()
            .enumerate()
            .map(|(j, action)| {
                // Each action works on the previous action's result; the first on the base.
                let input = if j == 0 { base_input } else { input_count + j as i64 - 1 };
                // Owners by name are looked up in the base, as BuildKit's own client
                // marshals them: an earlier action's output is not a valid index there.
                let action = action_to_pb(action, base_input, cwd, &mut meta);
                pb::FileAction {
                    input,
                    secondary_input: secondary[j],
                    output: if j == last { 0 } else { -1 },
                    action: Some(action),
                }
            })
            .collect();
        let op = pb::op::Op::File(pb::FileOp { actions });
        let vertex = Vertex::new(inputs.into_outputs(), op, None, meta);
        base.with_output(Some(Output { vertex, index: 0 }))
    }
}

fn chown_to_pb(chown: &Option<Chown>, base: i64) -> Option<pb::ChownOpt> {
    let user_opt = |r: &UserRef| pb::UserOpt {
        user: Some(match r {
            UserRef::Id(id) => pb::user_opt::User::ById(*id),
            UserRef::Name(name) => pb::user_opt::User::ByName(pb::NamedUserOpt { name: name.clone(), input: base }),
        }),
    };
    chown.as_ref().map(|c| pb::ChownOpt {
        user: Some(user_opt(&c.user)),
        group: c.group.as_ref().map(user_opt),
    })
}

/// Takes the action: its text and data move into the message.
fn action_to_pb(action: Action, base: i64, cwd: &str, meta: &mut VertexMeta) -> pb::file_action::Action {
    use pb::file_action::Action as A;
    match action {
        Action::Copy { src, dest, options, .. } => {
            if !options.include.is_empty() || !options.exclude.is_empty() {
                meta.caps.insert(LlbCap::FileCopyIncludeExcludePatterns);
            }
            A::Copy(pb::FileActionCopy {
                src: join_path("/", &src),
                dest: join_path(cwd, &dest),
                owner: chown_to_pb(&options.chown, base),
                mode: options.mode.map(|m| m as i32).unwrap_or(-1),
                follow_symlink: options.follow_symlinks,
                dir_copy_contents: options.dir_contents_only,
                create_dest_path: options.create_dest_path,
                allow_wildcard: options.allow_wildcard,
                allow_empty_wildcard: options.allow_empty_wildcard,
                timestamp: options.timestamp.unwrap_or(-1),
                include_patterns: options.include,
                exclude_patterns: options.exclude,
                ..Default::default()
            })
        }
        Action::Mkdir { path, mode, parents, chown, timestamp } => A::Mkdir(pb::FileActionMkDir {
            path: join_path(cwd, &path),
            mode: mode as i32,
            make_parents: parents,
            owner: chown_to_pb(&chown, base),
            timestamp: timestamp.unwrap_or(-1),
        }),
        Action::Mkfile { path, mode, data, chown, timestamp } => A::Mkfile(pb::FileActionMkFile {
            path: join_path(cwd, &path),
            mode: mode as i32,
            data,
            owner: chown_to_pb(&chown, base),
            timestamp: timestamp.unwrap_or(-1),
        }),
        Action::Rm { path, allow_not_found, allow_wildcard } => A::Rm(pb::FileActionRm {
            path: join_path(cwd, &path),
            allow_not_found,
            allow_wildcard,
        }),
    }
}
