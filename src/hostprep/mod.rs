//! `leaven host-prep`: the host directories compose files bind-mount, made and
//! owned so that the containers' users can write them, on hosts whose daemon
//! remaps user namespaces (`userns-remap`: container UID N is host UID start + N).
//!
//! The steps read as the data flows: [`inputs`] turns the daemon config, the
//! subordinate id files and the compose files into types (pure, with
//! positions); the CLI then asks the engine who owns what in the images
//! ([`engine`]) and looks at the directories; [`plan`] decides, purely, what to
//! do with each one; [`apply`] does it.

pub mod apply;
pub mod engine;
pub mod inputs;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::compile::Ids;

/// One contiguous run of subordinate ids (`name:start:count` in /etc/subuid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubRange {
    pub start: u32,
    pub count: u32,
}

/// A user's subordinate ranges, in file order: container id 0 is the first
/// range's start, and ids past its count continue in the next range, as dockerd
/// maps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap(pub Vec<SubRange>);

impl IdMap {
    /// The host id a container id runs as; `None` past the last range.
    pub fn to_host(&self, container: u32) -> Option<u32> {
        let mut rest = container;
        for range in &self.0 {
            if rest < range.count {
                return Some(range.start + rest);
            }
            rest -= range.count;
        }
        None
    }

    /// The container id a host id is, when it is one of the ranges'.
    pub fn to_container(&self, host: u32) -> Option<u32> {
        let mut before = 0u32;
        for range in &self.0 {
            if host >= range.start && host - range.start < range.count {
                return Some(before + (host - range.start));
            }
            before = before.saturating_add(range.count);
        }
        None
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|r| u64::from(r.count)).sum()
    }
}

/// How the daemon maps container ids to host ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remap {
    /// No `userns-remap`: container ids are host ids.
    None,
    /// `userns-remap` names `user` (and `group`), whose subordinate ranges these are.
    Ranges { user: String, group: String, uids: IdMap, gids: IdMap },
}

impl Remap {
    /// Host ids of container ids; past the ranges, which kind (`u`/`g`) and id does not fit.
    fn to_host(&self, ids: Ids) -> Result<Owner, (char, u32)> {
        match self {
            Remap::None => Ok(Owner { uid: ids.uid, gid: ids.gid }),
            Remap::Ranges { uids, gids, .. } => Ok(Owner {
                uid: uids.to_host(ids.uid).ok_or(('u', ids.uid))?,
                gid: gids.to_host(ids.gid).ok_or(('g', ids.gid))?,
            }),
        }
    }

    /// Whether a host owner is one of the containers' (inside the ranges).
    fn is_containers(&self, owner: Owner) -> bool {
        match self {
            Remap::None => false,
            Remap::Ranges { uids, gids, .. } => uids.to_container(owner.uid).is_some() && gids.to_container(owner.gid).is_some(),
        }
    }

    /// Container ids of host ids as the engine reports them: under a remap, an
    /// image's files belong to host ids inside the ranges.
    pub fn container_ids(&self, uid: u32, gid: u32) -> Ids {
        match self {
            Remap::None => Ids::fixed(uid, gid),
            Remap::Ranges { uids, gids, .. } => Ids::fixed(uids.to_container(uid).unwrap_or(uid), gids.to_container(gid).unwrap_or(gid)),
        }
    }
}

/// A host owner, as `chown` sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// A host directory a service bind-mounts, with the container ids that write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOwner {
    pub service: String,
    /// The host path, absolute.
    pub source: PathBuf,
    /// Where the container sees it.
    pub target: String,
    pub read_only: bool,
    /// `file:line:col` of the mount in its compose file.
    pub at: String,
    /// The container's ids for this directory, and why they are these.
    pub ids: Ids,
    pub why: String,
}

/// A user or group a service runs as that its image does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownAccount {
    #[error("service {service}: {why} \"{name}\" is not in {image}'s /etc/passwd")]
    User { service: String, why: String, name: String, image: String },
    #[error("service {service}: {why} group \"{name}\" is not in {image}'s /etc/group")]
    Group { service: String, why: String, name: String, image: String },
}

/// The container ids that write a service's bind mount, and why: the
/// service's `user:`, else the user the spec builds its image to run as, else
/// the image's non-root `USER`, else the owner the image gives the mount's
/// target (what a named volume there would get: postgres's data dir belongs to
/// postgres though the entrypoint starts as root), else root.
pub fn mount_ids(
    service: &inputs::Service,
    target: &str,
    spec_user: Option<(Ids, String)>,
    image: Option<&engine::ImageFacts>,
    remap: &Remap,
) -> Result<(Ids, String), UnknownAccount> {
    let accounts = image.map(|i| &i.accounts);
    let of_image = image.map(|i| format!("image {}", i.reference)).unwrap_or_else(|| "its image".into());
    let unknown = |why: &str, name: &str, group: bool| {
        let (service, why, name, image) = (service.name.clone(), why.to_string(), name.to_string(), of_image.clone());
        match group {
            false => UnknownAccount::User { service, why, name, image },
            true => UnknownAccount::Group { service, why, name, image },
        }
    };
    let resolve = |user: &str, why: &str| -> Result<Ids, UnknownAccount> {
        let (name, group) = match user.split_once(':') {
            Some((name, group)) => (name, Some(group)),
            None => (user, None),
        };
        let numeric = |s: &str| s.parse::<u32>().ok();
        let (uid, gid) = match (numeric(name), accounts) {
            (_, Some(accounts)) => accounts.user_ids(name),
            (Some(uid), None) => Some((uid, 0)),
            (None, None) => None,
        }
        .ok_or_else(|| unknown(why, name, false))?;
        let gid = match group {
            None => gid,
            Some(group) => match (numeric(group), accounts) {
                (_, Some(accounts)) => accounts.group_id(group),
                (Some(gid), None) => Some(gid),
                (None, None) => None,
            }
            .ok_or_else(|| unknown(why, group, true))?,
        };
        Ok(Ids::fixed(uid, gid))
    };
    if let Some(user) = service.user.as_deref().filter(|u| !u.is_empty()) {
        return Ok((resolve(user, "user")?, format!("user: {user}")));
    }
    if let Some(found) = spec_user {
        return Ok(found);
    }
    let Some(image) = image else { return Ok((Ids::ROOT, "runs as root".into())) };
    if !image.user.is_empty() {
        let ids = resolve(&image.user, "the image's USER")?;
        if ids != Ids::ROOT {
            return Ok((ids, format!("{of_image} runs as {}", image.user)));
        }
    }
    if let Some((uid, gid)) = image.owners.get(target) {
        let ids = remap.container_ids(*uid, *gid);
        return Ok((ids, format!("{of_image} gives {target} to {ids}")));
    }
    Ok((Ids::ROOT, format!("{of_image} runs as root")))
}

/// What is at a host path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Missing,
    Dir(Owner),
    /// A file, socket, …: mounted as it is.
    Other,
}

/// What host-prep does with one host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Create,
    Chown { from: Owner },
    /// Already owned so.
    Nothing,
    /// Not a directory, or mounted read-only: nothing to own.
    LeftAlone(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub path: PathBuf,
    /// The mounts of this path (several services may share it).
    pub mounts: Vec<MountOwner>,
    pub owner: Owner,
    pub change: Change,
}

/// What host-prep will do, path by path, in path order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub remap: Remap,
    pub actions: Vec<Action>,
}

impl Plan {
    /// Whether applying the plan changes anything.
    pub fn changes(&self) -> bool {
        self.actions.iter().any(|a| matches!(a.change, Change::Create | Change::Chown { .. }))
    }
}

/// Why host-prep will not touch a directory (then it touches none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{at}: {path} belongs to {found}, neither root nor the container's ({wanted} for {service}'s {target}); \
         leaven does not take a directory from another user: chown it to {wanted} yourself, or mount another one",
        path = .mount.source.display(), at = .mount.at, service = .mount.service, target = .mount.target
    )]
    UnrelatedOwner { mount: MountOwner, found: Owner, wanted: Owner },
    #[error(
        "{at}: {service}'s {target} runs as container {kind}id {id}, past the {total} subordinate {kind}ids of {user}; \
         give {user} a larger range in /etc/sub{kind}id",
        at = .mount.at, service = .mount.service, target = .mount.target
    )]
    OutsideRange { mount: MountOwner, kind: char, id: u32, total: u64, user: String },
    #[error(
        "{at}: {path} is mounted by {first} as {first_ids} and by {second} as {second_ids}; one directory has one owner: mount separate directories",
        path = .path.display(), at = .at
    )]
    Conflict { path: PathBuf, at: String, first: String, first_ids: Ids, second: String, second_ids: Ids },
}

/// Decides, for every host directory mounted, its host owner and what to do:
/// create it, chown it (when it is root's, or another of the containers' ids),
/// nothing (already so), or refuse (another user's). Read-only mounts and
/// paths that are not directories are left alone. All refusals, or the plan.
pub fn plan(remap: &Remap, mounts: &[MountOwner], existing: &BTreeMap<PathBuf, Existing>) -> Result<Plan, Vec<Refusal>> {
    let mut by_path: BTreeMap<&PathBuf, Vec<&MountOwner>> = BTreeMap::new();
    for mount in mounts {
        by_path.entry(&mount.source).or_default().push(mount);
    }
    let mut refusals = Vec::new();
    let mut actions = Vec::new();
    for (path, mounts) in by_path {
        let now = existing.get(path).copied().unwrap_or(Existing::Missing);
        let writers: Vec<&MountOwner> = mounts.iter().copied().filter(|m| !m.read_only).collect();
        let owned = || mounts.iter().map(|m| (*m).clone()).collect();
        let (Some(first), Existing::Missing | Existing::Dir(_)) = (writers.first(), now) else {
            let why = if now == Existing::Other { "not a directory" } else { "mounted read-only" };
            let owner = match now {
                Existing::Dir(owner) => owner,
                _ => Owner::ROOT,
            };
            actions.push(Action { path: path.clone(), mounts: owned(), owner, change: Change::LeftAlone(why) });
            continue;
        };
        if let Some(other) = writers.iter().find(|m| m.ids != first.ids) {
            refusals.push(Refusal::Conflict {
                path: path.clone(),
                at: other.at.clone(),
                first: first.service.clone(),
                first_ids: first.ids,
                second: other.service.clone(),
                second_ids: other.ids,
            });
            continue;
        }
        let owner = match remap.to_host(first.ids) {
            Ok(owner) => owner,
            Err((kind, id)) => {
                let Remap::Ranges { user, group, uids, gids } = remap else { unreachable!("without a remap every id fits") };
                let (user, total) = if kind == 'u' { (user, uids.total()) } else { (group, gids.total()) };
                refusals.push(Refusal::OutsideRange { mount: (*first).clone(), kind, id, total, user: user.clone() });
                continue;
            }
        };
        let change = match now {
            Existing::Missing => Change::Create,
            Existing::Dir(found) if found == owner => Change::Nothing,
            Existing::Dir(found) if found == Owner::ROOT || remap.is_containers(found) => Change::Chown { from: found },
            Existing::Dir(found) => {
                refusals.push(Refusal::UnrelatedOwner { mount: (*first).clone(), found, wanted: owner });
                continue;
            }
            Existing::Other => unreachable!("left alone above"),
        };
        actions.push(Action { path: path.clone(), mounts: owned(), owner, change });
    }
    if refusals.is_empty() {
        Ok(Plan { remap: remap.clone(), actions })
    } else {
        Err(refusals)
    }
}

/// The plan as host-prep prints it: one line per path, then what it came to.
pub fn plan_text(plan: &Plan, dry_run: bool) -> String {
    use fmt::Write;
    let mut out = String::new();
    let (create, chown) = if dry_run { ("would create", "would chown") } else { ("create", "chown") };
    for action in &plan.actions {
        let path = action.path.display();
        let line = match &action.change {
            Change::Create => format!("{create} {path} owned by {}", action.owner),
            Change::Chown { from } => format!("{chown} {path} from {from} to {}", action.owner),
            Change::Nothing => format!("ok {path} is owned by {}", action.owner),
            Change::LeftAlone(why) => format!("leave {path}: {why}"),
        };
        let whose: Vec<String> = action.mounts.iter().map(|m| format!("{} {} ({})", m.service, m.target, m.why)).collect();
        let _ = writeln!(out, "{line}: {}", whose.join("; "));
    }
    let count = |f: fn(&Change) -> bool| plan.actions.iter().filter(|a| f(&a.change)).count();
    let (created, chowned) = (count(|c| *c == Change::Create), count(|c| matches!(c, Change::Chown { .. })));
    let already = count(|c| *c == Change::Nothing);
    if !plan.changes() {
        let _ = writeln!(out, "nothing to change: {already} director{} already owned as the containers need", if already == 1 { "y" } else { "ies" });
    } else if dry_run {
        let _ = writeln!(out, "dry run: {created} to create, {chowned} to chown, {already} already right; nothing changed");
    } else {
        let _ = writeln!(out, "{created} created, {chowned} chowned, {already} already right");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dockremap() -> Remap {
        let map = IdMap(vec![SubRange { start: 100000, count: 65536 }]);
        Remap::Ranges { user: "dockremap".into(), group: "dockremap".into(), uids: map.clone(), gids: map }
    }

    fn mount(service: &str, source: &str, uid: u32) -> MountOwner {
        MountOwner {
            service: service.into(),
            source: source.into(),
            target: "/data".into(),
            read_only: false,
            at: "compose.yaml:3:9".into(),
            ids: Ids::fixed(uid, uid),
            why: "test".into(),
        }
    }

    fn existing(entries: &[(&str, Existing)]) -> BTreeMap<PathBuf, Existing> {
        entries.iter().map(|(p, e)| (PathBuf::from(p), *e)).collect()
    }

    fn owner(uid: u32, gid: u32) -> Owner {
        Owner { uid, gid }
    }

    #[test]
    fn missing_dirs_are_created_owned_by_subordinate_start_plus_container_id() {
        let plan = plan(&dockremap(), &[mount("db", "/srv/pg", 999), mount("app", "/srv/media", 0)], &existing(&[])).unwrap();
        let got: Vec<(String, Owner, Change)> =
            plan.actions.iter().map(|a| (a.path.display().to_string(), a.owner, a.change.clone())).collect();
        assert_eq!(
            got,
            [("/srv/media".into(), owner(100000, 100000), Change::Create), ("/srv/pg".into(), owner(100999, 100999), Change::Create)]
        );
        assert!(plan.changes());
    }

    #[test]
    fn a_dir_already_owned_so_is_left_and_a_second_run_changes_nothing() {
        let dirs = existing(&[("/srv/pg", Existing::Dir(owner(100999, 100999)))]);
        let plan = plan(&dockremap(), &[mount("db", "/srv/pg", 999)], &dirs).unwrap();
        assert_eq!(plan.actions[0].change, Change::Nothing);
        assert!(!plan.changes());
        assert!(plan_text(&plan, false).ends_with("nothing to change: 1 directory already owned as the containers need\n"));
    }

    #[test]
    fn root_owned_and_container_owned_dirs_are_chowned() {
        let dirs = existing(&[("/a", Existing::Dir(Owner::ROOT)), ("/b", Existing::Dir(owner(100000, 100000)))]);
        let plan = plan(&dockremap(), &[mount("db", "/a", 999), mount("db", "/b", 999)], &dirs).unwrap();
        assert_eq!(plan.actions[0].change, Change::Chown { from: Owner::ROOT });
        assert_eq!(plan.actions[1].change, Change::Chown { from: owner(100000, 100000) });
        let text = plan_text(&plan, true);
        assert!(text.starts_with("would chown /a from 0:0 to 100999:100999: db /data (test)\n"), "{text}");
        assert!(text.ends_with("dry run: 0 to create, 2 to chown, 0 already right; nothing changed\n"), "{text}");
    }

    #[test]
    fn another_users_dir_is_refused_with_where_it_is_mounted() {
        let dirs = existing(&[("/home/me/pg", Existing::Dir(owner(1000, 1000))), ("/ok", Existing::Dir(Owner::ROOT))]);
        let refusals = plan(&dockremap(), &[mount("db", "/home/me/pg", 999), mount("db", "/ok", 999)], &dirs).unwrap_err();
        assert_eq!(
            refusals.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["compose.yaml:3:9: /home/me/pg belongs to 1000:1000, neither root nor the container's (100999:100999 for db's /data); \
              leaven does not take a directory from another user: chown it to 100999:100999 yourself, or mount another one"]
        );
    }

    #[test]
    fn without_a_remap_dirs_are_owned_by_the_container_ids() {
        let plan = plan(&Remap::None, &[mount("db", "/srv/pg", 999)], &existing(&[])).unwrap();
        assert_eq!((plan.actions[0].owner, &plan.actions[0].change), (owner(999, 999), &Change::Create));
        // Without a remap a dir of another id is another user's, even a container's id.
        let dirs = existing(&[("/srv/pg", Existing::Dir(owner(100000, 100000)))]);
        assert!(matches!(&plan_err(&Remap::None, &[mount("db", "/srv/pg", 999)], &dirs)[0], Refusal::UnrelatedOwner { .. }));
    }

    fn plan_err(remap: &Remap, mounts: &[MountOwner], dirs: &BTreeMap<PathBuf, Existing>) -> Vec<Refusal> {
        plan(remap, mounts, dirs).unwrap_err()
    }

    #[test]
    fn ids_past_the_ranges_are_refused_and_later_ranges_continue_the_mapping() {
        let refusals = plan_err(&dockremap(), &[mount("app", "/x", 70000)], &existing(&[]));
        assert_eq!(
            refusals[0].to_string(),
            "compose.yaml:3:9: app's /data runs as container uid 70000, past the 65536 subordinate uids of dockremap; \
             give dockremap a larger range in /etc/subuid"
        );
        let map = IdMap(vec![SubRange { start: 100000, count: 10 }, SubRange { start: 500000, count: 10 }]);
        assert_eq!((map.to_host(9), map.to_host(10), map.to_host(20)), (Some(100009), Some(500000), None));
        assert_eq!((map.to_container(500003), map.to_container(99999)), (Some(13), None));
    }

    #[test]
    fn two_services_wanting_one_dir_with_different_ids_are_refused() {
        let refusals = plan_err(&dockremap(), &[mount("db", "/x", 999), mount("web", "/x", 1000)], &existing(&[]));
        assert_eq!(
            refusals[0].to_string(),
            "compose.yaml:3:9: /x is mounted by db as 999:999 and by web as 1000:1000; one directory has one owner: mount separate directories"
        );
        // The same ids are one owner: one action for both mounts.
        let plan = plan(&dockremap(), &[mount("web", "/x", 1000), mount("worker", "/x", 1000)], &existing(&[])).unwrap();
        assert_eq!(plan.actions.len(), 1);
        assert_eq!(plan.actions[0].mounts.len(), 2);
    }

    fn service(user: Option<&str>) -> inputs::Service {
        inputs::Service { name: "db".into(), image: Some("pg".into()), user: user.map(Into::into), build: None, binds: Vec::new() }
    }

    fn postgres_image(user: &str) -> engine::ImageFacts {
        engine::ImageFacts {
            reference: "pg".into(),
            user: user.into(),
            accounts: crate::compile::AccountFiles {
                passwd: Some("root:x:0:0::/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/bash\n".into()),
                group: Some("root:x:0:\npostgres:x:999:\nstaff:x:50:\n".into()),
                ..Default::default()
            },
            // As a remapped engine reports them: host ids.
            owners: [("/var/lib/postgresql/data".to_string(), (100999, 100999))].into(),
        }
    }

    #[test]
    fn who_writes_a_mount_service_user_then_spec_then_image_user_then_the_images_owner() {
        let target = "/var/lib/postgresql/data";
        let image = postgres_image("");
        let ids = |user: Option<&str>, spec: Option<(Ids, String)>, image: Option<&engine::ImageFacts>, target: &str| {
            mount_ids(&service(user), target, spec, image, &dockremap()).map(|(ids, why)| format!("{ids} ({why})")).map_err(|e| e.to_string())
        };
        assert_eq!(ids(Some("1234"), None, None, target), Ok("1234:0 (user: 1234)".into()));
        assert_eq!(ids(Some("1234:5"), None, Some(&image), target), Ok("1234:5 (user: 1234:5)".into()));
        assert_eq!(ids(Some("postgres:staff"), None, Some(&image), target), Ok("999:50 (user: postgres:staff)".into()));
        assert_eq!(
            ids(Some("app"), None, Some(&image), target),
            Err("service db: user \"app\" is not in image pg's /etc/passwd".into())
        );
        let spec = Some((Ids::fixed(1000, 1000), "the spec's user app".into()));
        assert_eq!(ids(None, spec, Some(&image), target), Ok("1000:1000 (the spec's user app)".into()));
        assert_eq!(ids(None, None, Some(&image), target), Ok("999:999 (image pg gives /var/lib/postgresql/data to 999:999)".into()));
        assert_eq!(ids(None, None, Some(&postgres_image("postgres")), "/other"), Ok("999:999 (image pg runs as postgres)".into()));
        assert_eq!(ids(None, None, Some(&image), "/other"), Ok("0:0 (image pg runs as root)".into()));
        assert_eq!(ids(None, None, None, "/other"), Ok("0:0 (runs as root)".into()));
    }

    #[test]
    fn read_only_mounts_and_files_are_left_alone() {
        let mut ro = mount("web", "/etc-conf", 0);
        ro.read_only = true;
        let dirs = existing(&[("/f", Existing::Other)]);
        let plan = plan(&dockremap(), &[ro, mount("web", "/f", 0)], &dirs).unwrap();
        let changes: Vec<&Change> = plan.actions.iter().map(|a| &a.change).collect();
        assert_eq!(changes, [&Change::LeftAlone("mounted read-only"), &Change::LeftAlone("not a directory")]);
        assert!(!plan.changes());
    }
}
