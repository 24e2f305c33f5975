//! Creating a user by writing the account files, not by running `useradd`, so it
//! works on any base (distroless, scratch) and is cached like any file change.
//!
//! Policy when the base already has the name or the ids (node images ship `node`
//! with UID 1000): the spec's user takes them over. Entries with the same name or
//! the same id are removed and ours is appended, so `id` shows our name; files the
//! base gave the old account keep their numeric owner, which is now ours.

use std::borrow::Cow;

use crate::llb::{Chown, CopyOptions, FileChain, State};
use crate::spec::User;

/// The account files to read from a base image, and where they are.
pub const ACCOUNT_FILES: [&str; 4] = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];

/// The skeleton of a new home, as `useradd -m` copies it, copied
/// [`if_present`]: a base without one (a distroless image) gets an empty home.
const SKELETON: &str = "/etc/skel";

/// A copy source that matches only `path`, and so copies nothing, with no
/// error, from an image that lacks it: its last character as a one-character
/// set (`/etc/passw[d]`), which makes the source a pattern.
pub fn if_present(path: &str) -> String {
    match path.char_indices().last() {
        Some((at, last)) => format!("{}[{last}]", &path[..at]),
        None => String::new(),
    }
}

/// A base image's account files; `None` where the image has no such file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
    pub shadow: Option<String>,
    pub gshadow: Option<String>,
}

impl AccountFiles {
    /// The files with `users` (and their primary groups) added, replacing any
    /// clash, and each user added to its extra groups. Names a missing group.
    pub fn with_users(&self, users: &[User]) -> Result<AccountFiles, String> {
        // Read from the base's text; each user's entries make a new one.
        let mut passwd = Cow::Borrowed(self.passwd.as_deref().unwrap_or("root:x:0:0:root:/root:/bin/sh\n"));
        let mut group = Cow::Borrowed(self.group.as_deref().unwrap_or("root:x:0:\n"));
        let mut shadow = self.shadow.as_deref().map(Cow::Borrowed);
        let mut gshadow = self.gshadow.as_deref().map(Cow::Borrowed);
        // Each user's lines are written in turn into one buffer.
        let mut line = String::new();
        for user in users {
            let name = &user.name;
            let passwd_line = set_line(&mut line, format_args!("{name}:x:{}:{}::{}:{}", user.uid, user.gid, user.home, user.shell));
            passwd = replace_entry(&passwd, name, Some(user.uid), passwd_line).into();
            group = replace_entry(&group, name, Some(user.gid), set_line(&mut line, format_args!("{name}:x:{}:", user.gid))).into();
            // A locked password: the account cannot log in, only run processes.
            shadow = shadow.map(|s| replace_entry(&s, name, None, set_line(&mut line, format_args!("{name}:!:::::::"))).into());
            // The group's shadow entry, as groupadd writes it: no password, no members.
            gshadow = gshadow.map(|s| replace_entry(&s, name, None, set_line(&mut line, format_args!("{name}:!::"))).into());
        }
        let mut group = group.into_owned();
        let (passwd, shadow, gshadow) = (passwd.into_owned(), shadow.map(Cow::into_owned), gshadow.map(Cow::into_owned));
        for user in users {
            for extra in &user.groups {
                group = add_member(&group, extra, &user.name)
                    .ok_or_else(|| format!("user \"{}\" joins group \"{extra}\", which the base image does not have", user.name))?;
            }
        }
        Ok(AccountFiles { passwd: Some(passwd), group: Some(group), shadow, gshadow })
    }

    /// The uid and primary gid of the user `who` (a name, or a uid) in
    /// passwd, as a container's `user:` resolves: a uid passwd lacks has gid 0.
    pub fn user_ids(&self, who: &str) -> Option<(u32, u32)> {
        let entry = self.passwd.as_deref().and_then(|p| entry_of(p, who));
        match (entry, who.parse::<u32>()) {
            (Some(fields), _) => Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)),
            (None, Ok(uid)) => Some((uid, 0)),
            (None, Err(_)) => None,
        }
    }

    /// The gid of the group `who` (a name, or a gid) in group.
    pub fn group_id(&self, who: &str) -> Option<u32> {
        match self.group.as_deref().and_then(|g| entry_of(g, who)) {
            Some(fields) => fields.get(2)?.parse().ok(),
            None => who.parse().ok(),
        }
    }

    /// File actions that write these files and create each user's home, with
    /// the skeleton of `base` (the filesystem the users are created in, `None`
    /// when it has no `/etc`) copied in.
    pub fn write(&self, users: &[User], base: Option<&State>) -> FileChain {
        let mut chain = FileChain::new();
        if let Some(passwd) = &self.passwd {
            chain = chain.mkfile("/etc/passwd", 0o644, passwd.as_bytes(), None);
        }
        if let Some(group) = &self.group {
            chain = chain.mkfile("/etc/group", 0o644, group.as_bytes(), None);
        }
        if let Some(shadow) = &self.shadow {
            chain = chain.mkfile("/etc/shadow", 0o640, shadow.as_bytes(), None);
        }
        if let Some(gshadow) = &self.gshadow {
            chain = chain.mkfile("/etc/gshadow", 0o640, gshadow.as_bytes(), None);
        }
        users.iter().fold(chain, |chain, user| {
            let owner = Chown::ids(user.uid, user.gid);
            let chain = chain.mkdir(&user.home, 0o755, true, Some(owner.clone()));
            match base {
                Some(base) => {
                    let options = CopyOptions { chown: Some(owner), follow_symlinks: false, ..CopyOptions::default() };
                    chain.copy(base, &if_present(SKELETON), format!("{}/", user.home), options)
                }
                None => chain,
            }
        })
    }
}

/// `group` with `member` added to the members of group `name`; `None` when absent.
/// Written into one buffer: a base's group file has dozens of lines.
fn add_member(group: &str, name: &str, member: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::with_capacity(group.len() + member.len() + 2);
    for line in group.lines() {
        let four_fields = line.split(':').count() == 4 && line.split(':').next() == Some(name);
        let Some((head, members)) = line.rsplit_once(':').filter(|_| four_fields) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        found = true;
        let mut members: Vec<&str> = members.split(',').filter(|m| !m.is_empty()).collect();
        if !members.contains(&member) {
            members.push(member);
        }
        out.push_str(head);
        out.push(':');
        out.push_str(&members.join(","));
        out.push('\n');
    }
    found.then_some(out)
}

/// The fields of the entry named `who`, or else numbered `who` (third field).
fn entry_of<'a>(text: &'a str, who: &str) -> Option<Vec<&'a str>> {
    let entries = || text.lines().map(|l| l.split(':').collect::<Vec<_>>());
    entries().find(|f| f[0] == who).or_else(|| entries().find(|f| f.get(2) == Some(&who)))
}

/// `line` set to `args`.
fn set_line<'a>(line: &'a mut String, args: std::fmt::Arguments<'_>) -> &'a str {
    use std::fmt::Write;
    line.clear();
    line.write_fmt(args).expect("writing to a String cannot fail");
    line
}

/// `text` without lines for `name` or for `id` (third field), plus `line`,
/// written into one buffer.
fn replace_entry(text: &str, name: &str, id: Option<u32>, line: &str) -> String {
    let mut out = String::with_capacity(text.len() + line.len() + 1);
    for l in text.lines() {
        let (entry_name, entry_id) = name_and_id(l);
        if entry_name != name && !id.is_some_and(|id| is_decimal(entry_id, id)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// Whether `field` is `id` as `id.to_string()` writes it (no sign, no leading zero).
fn is_decimal(field: &str, id: u32) -> bool {
    field.bytes().all(|b| b.is_ascii_digit()) && (field == "0" || !field.starts_with('0')) && field.parse() == Ok(id)
}

/// An account line's first and third fields (its name and its id), `""`
/// for a field it lacks; found bytewise, as every base's file is read per user.
fn name_and_id(line: &str) -> (&str, &str) {
    let colon = |from: usize| line.as_bytes()[from..].iter().position(|&b| b == b':').map(|i| from + i);
    let Some(first) = colon(0) else { return (line, "") };
    let Some(second) = colon(first + 1) else { return (&line[..first], "") };
    let end = colon(second + 1).unwrap_or(line.len());
    (&line[..first], &line[second + 1..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Pos;

    fn app(uid: u32) -> User {
        User {
            name: "app".into(),
            uid,
            gid: uid,
            home: "/home/app".into(),
            shell: "/bin/sh".into(),
            groups: Vec::new(),
            allow_root: false,
            uid_from_host: true,
            gid_from_host: true,
            pos: Pos::default(),
        }
    }

    #[test]
    fn a_path_if_present_is_a_pattern_of_only_that_path() {
        assert_eq!(if_present("/etc/passwd"), "/etc/passw[d]");
        assert_eq!(if_present(SKELETON), "/etc/ske[l]");
        assert_eq!(if_present("/é"), "/[é]");
    }

    #[test]
    fn adds_user_and_group() {
        let base = AccountFiles {
            passwd: Some("root:x:0:0:root:/root:/bin/bash\n".into()),
            group: Some("root:x:0:\n".into()),
            shadow: None,
            gshadow: None,
        };
        let out = base.with_users(&[app(1000)]).unwrap();
        assert_eq!(out.passwd.unwrap(), "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_eq!(out.group.unwrap(), "root:x:0:\napp:x:1000:\n");
        assert_eq!(out.shadow, None);
    }

    #[test]
    fn takes_over_an_existing_uid_and_name() {
        let base = AccountFiles {
            passwd: Some("root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/bash\napp:x:5:5::/:/bin/false\n".into()),
            group: Some("root:x:0:\nnode:x:1000:\n".into()),
            shadow: Some("root:*:1::::::\napp:*:1::::::\n".into()),
            gshadow: Some("root:*::\nnode:!::\n".into()),
        };
        let out = base.with_users(&[app(1000)]).unwrap();
        assert_eq!(out.passwd.unwrap(), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_eq!(out.group.unwrap(), "root:x:0:\napp:x:1000:\n");
        assert_eq!(out.shadow.unwrap(), "root:*:1::::::\napp:!:::::::\n");
        assert_eq!(out.gshadow.unwrap(), "root:*::\nnode:!::\napp:!::\n");
    }

    #[test]
    fn users_and_groups_resolve_by_name_or_id_as_a_container_user_does() {
        let files = AccountFiles {
            passwd: Some("root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/bash\n".into()),
            group: Some("root:x:0:\npostgres:x:999:\nstaff:x:50:\n".into()),
            ..Default::default()
        };
        assert_eq!(files.user_ids("postgres"), Some((999, 999)));
        assert_eq!(files.user_ids("999"), Some((999, 999)));
        assert_eq!(files.user_ids("1234"), Some((1234, 0)));
        assert_eq!(files.user_ids("nobody"), None);
        assert_eq!((files.group_id("staff"), files.group_id("77"), files.group_id("wheel")), (Some(50), Some(77), None));
    }

    #[test]
    fn entry_fields_are_read_as_a_split_reads_them() {
        for line in ["app:x:1000:1000::/home/app:/bin/sh", "app", "app:x", "app:x:7", "", "::", ":x:5:"] {
            let mut fields = line.split(':');
            let split = (fields.next().unwrap_or(""), fields.nth(1).unwrap_or(""));
            assert_eq!(name_and_id(line), split, "{line:?}");
        }
    }

    #[test]
    fn an_id_matches_only_as_written_in_decimal() {
        for (field, matches) in [("1000", true), ("01000", false), ("+1000", false), ("1000 ", false), ("", false), ("10000", false)] {
            assert_eq!(is_decimal(field, 1000), matches, "{field:?}");
        }
        assert!(is_decimal("0", 0) && !is_decimal("00", 0));
        let text = "root:x:0:0::/root:/bin/sh\nold:x:01000:5::/:/bin/sh\nnode:x:1000:1000::/home/node:/bin/bash\n";
        assert_eq!(replace_entry(text, "app", Some(1000), "app:x:1000:1000::/home/app:/bin/sh"), "root:x:0:0::/root:/bin/sh\nold:x:01000:5::/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_eq!(replace_entry("app:*:1::::::\nx:*:4294967295::::::\n", "app", None, "app:!:::::::"), "x:*:4294967295::::::\napp:!:::::::\n");
    }

    #[test]
    fn extra_groups_must_exist() {
        let base = AccountFiles { passwd: None, group: Some("root:x:0:\nwww-data:x:33:\n".into()), shadow: None, gshadow: None };
        let mut user = app(1000);
        user.groups = vec!["www-data".into()];
        let out = base.with_users(std::slice::from_ref(&user)).unwrap();
        assert!(out.group.unwrap().contains("www-data:x:33:app\n"));
        user.groups = vec!["docker".into()];
        assert!(base.with_users(&[user]).unwrap_err().contains("\"docker\""));
    }
}
