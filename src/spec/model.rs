//! The checked spec: what an app's build is, independent of HCL and of LLB.

use std::collections::BTreeMap;

/// Where in the spec file something was written, for errors raised after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub file: String,
    pub users: Vec<User>,
    pub stages: Vec<Stage>,
}

/// A non-root account created in images, by writing passwd/group files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// An intermediate stage: built only when something uses it.
    Stage,
    /// A stage that is a deliverable image: gets the user and the image config.
    Image,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    /// An image reference as written (`python:3.13-slim`).
    Image(String),
    /// Another stage of this spec, by name.
    Stage(String),
    Scratch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub kind: StageKind,
    pub from: Base,
    pub steps: Vec<Step>,
    pub settings: ImageSettings,
    pub pos: Pos,
}

/// Image config a stage sets; unset fields inherit from the base.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSettings {
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// The user the image runs as; defaults to the spec's only user, if any.
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Run(Run),
    Copy(Copy),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run through the image's shell (`/bin/sh -c`).
    Shell(String),
    /// Run as given, no shell.
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub command: Command,
    pub env: Vec<(String, String)>,
    /// The account the step runs as; root when unset (as before a Dockerfile `USER`).
    pub user: Option<String>,
    pub caches: Vec<CacheMount>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheMount {
    pub target: String,
    pub id: Option<String>,
    pub sharing: Sharing,
}

/// Who owns copied files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// A path in the build context.
    pub source: String,
    /// Relative to the stage's workdir; defaults to the workdir.
    pub dest: String,
    pub owner: Option<Owner>,
    pub pos: Pos,
}

impl Spec {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The image built when no target is given: the last `image` block.
    pub fn default_target(&self) -> Option<&Stage> {
        self.stages.iter().rev().find(|s| s.kind == StageKind::Image)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}
