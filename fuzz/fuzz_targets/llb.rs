//! The LLB marshaller: a state graph built from the input with the `leaven::llb`
//! builders, marshalled; every op's digest must be the sha256 of its bytes,
//! metadata must be keyed by those digests, and every input must point at an
//! earlier op.
#![no_main]

use std::collections::HashSet;

use leaven::llb::{
    self, CacheSharing, Chown, CopyOptions, Exec, FileChain, GitSource, HttpSource, ImageSource, LocalSource, Mount,
    MountKind, NetworkMode, Platform, ResolveMode, SecretEnv, State, UserRef, VertexMeta,
};
use leaven::proto::pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use sha2::{Digest, Sha256};

/// Reads choices and strings off the input; past its end everything is zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        first
    }
    fn number(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn text(&mut self) -> String {
        let len = (self.byte() % 24) as usize;
        let take = len.min(self.0.len());
        let (text, rest) = self.0.split_at(take);
        self.0 = rest;
        String::from_utf8_lossy(text).into_owned()
    }
    fn texts(&mut self) -> Vec<String> {
        (0..self.byte() % 4).map(|_| self.text()).collect()
    }
    fn meta(&mut self) -> VertexMeta {
        let mut meta = if self.byte() % 2 == 0 { VertexMeta::default() } else { VertexMeta::named(self.text()) };
        meta.ignore_cache = self.byte() % 4 == 0;
        meta
    }
    fn chown(&mut self) -> Option<Chown> {
        match self.byte() % 3 {
            0 => None,
            1 => Some(Chown::ids(self.number(), self.number())),
            _ => Some(Chown { user: UserRef::Name(self.text()), group: Some(UserRef::Id(self.number())) }),
        }
    }
}

fn pick<'s>(states: &'s [State], input: &mut Input) -> &'s State {
    &states[input.byte() as usize % states.len()]
}

fn build(input: &mut Input) -> State {
    let mut states = vec![State::scratch()];
    for _ in 0..input.byte() % 32 {
        let next = match input.byte() % 14 {
            0 => ImageSource {
                reference: llb::normalize_image_ref(&input.text()),
                resolve_mode: ResolveMode::parse(&input.text()).unwrap_or(ResolveMode::Default),
                platform: Platform::parse(&input.text()),
                name: Some(input.text()),
                location: None,
            }
            .state(),
            1 => LocalSource { name: input.text(), exclude: input.texts(), include: input.texts(), ..Default::default() }.state(),
            2 => GitSource {
                remote: input.text(),
                reference: input.text(),
                subdir: input.text(),
                keep_git_dir: input.byte() % 2 == 0,
                auth_secrets: input.byte() % 2 == 0,
                name: None,
            }.state(),
            3 => HttpSource { url: input.text(), checksum: Some(input.text()), perm: Some(input.number()), ..Default::default() }.state(),
            4 => {
                let base = pick(&states, input).clone();
                let mut mounts = Vec::new();
                for _ in 0..input.byte() % 4 {
                    let dest = input.text();
                    let kind = match input.byte() % 5 {
                        0 => MountKind::Bind {
                            source: pick(&states, input).clone(),
                            selector: Some(input.text()),
                            readonly: input.byte() % 2 == 0,
                            discard_writes: input.byte() % 2 == 0,
                        },
                        1 => MountKind::Cache { id: input.text(), sharing: CacheSharing::Private, base: None },
                        2 => MountKind::Tmpfs { size: Some(input.number() as i64) },
                        3 => MountKind::Secret { id: input.text(), uid: input.number(), gid: 0, mode: 0o400, optional: true },
                        _ => MountKind::Ssh { id: input.text(), uid: 0, gid: input.number(), mode: 0o600, optional: false },
                    };
                    mounts.push(Mount { dest, kind });
                }
                let exec = Exec {
                    args: input.texts(),
                    env: vec![(input.text(), input.text())],
                    cwd: Some(input.text()),
                    user: Some(input.text()),
                    network: [NetworkMode::Sandbox, NetworkMode::Host, NetworkMode::None][input.byte() as usize % 3],
                    mounts,
                    secret_env: vec![SecretEnv { name: input.text(), id: input.text(), optional: true }],
                    meta: input.meta(),
                    remove_mount_stubs: input.byte() % 2 == 0,
                };
                let run = base.run(exec);
                match input.byte() % 2 {
                    0 => run.root(),
                    _ => {
                        let dest = input.text();
                        run.mount(&dest).unwrap_or_else(|| run.root())
                    }
                }
            }
            5 => {
                let base = pick(&states, input).clone();
                let source = pick(&states, input).clone();
                let options = CopyOptions {
                    chown: input.chown(),
                    mode: Some(input.number()),
                    include: input.texts(),
                    exclude: input.texts(),
                    timestamp: Some(input.number() as i64),
                    ..CopyOptions::default()
                };
                let (src, dest) = (input.text(), input.text());
                base.file(FileChain::new().copy(&source, &src, &dest, options), input.meta())
            }
            6 => {
                let base = pick(&states, input).clone();
                let chain = FileChain::new()
                    .mkdir(&input.text(), input.number(), input.byte() % 2 == 0, input.chown())
                    .mkfile(&input.text(), input.number(), input.text().into_bytes(), input.chown())
                    .rm(&input.text(), input.byte() % 2 == 0, input.byte() % 2 == 0);
                base.file(chain, input.meta())
            }
            7 => {
                let chosen: Vec<State> = (0..input.byte() % 4).map(|_| pick(&states, input).clone()).collect();
                llb::merge(&chosen, input.meta())
            }
            8 => {
                let (lower, upper) = (pick(&states, input).clone(), pick(&states, input).clone());
                llb::diff(&lower, &upper, input.meta())
            }
            9 => pick(&states, input).env(&input.text(), &input.text()),
            10 => pick(&states, input).cwd(&input.text()),
            11 => pick(&states, input).user(&input.text()),
            12 => {
                let def = llb::marshal::definition(pick(&states, input), false);
                State::from_definition(def).unwrap_or_else(State::scratch)
            }
            _ => match Platform::parse(&input.text()) {
                Some(p) => pick(&states, input).platform(p),
                None => State::scratch(),
            },
        };
        states.push(next);
    }
    states.pop().unwrap_or_else(State::scratch)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let state = build(&mut input);
    let def = llb::marshal::definition(&state, input.byte() % 2 == 0);
    let mut digests = HashSet::new();
    for (i, bytes) in def.def.iter().enumerate() {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        assert_eq!(digest, llb::marshal::digest_of(bytes));
        let op = pb::Op::decode(&bytes[..]).expect("marshalled ops decode");
        for input in &op.inputs {
            assert!(digests.contains(&input.digest), "op {i} reads {} before it is defined", input.digest);
        }
        digests.insert(digest);
    }
    for key in def.metadata.keys() {
        assert!(digests.contains(key), "metadata for {key}, which is no op");
    }
    if !def.def.is_empty() {
        assert!(llb::marshal::root_of(&def).is_some(), "the last op is the return op");
    }
    let _ = llb::json::definition_json(&def);
});
