//! Creating a user by writing the account files, not by running `useradd`, so it
//! works on any base (distroless, scratch) and is cached like any file change.
//!
//! Policy when the base already has the name or the ids (node images ship `node`
//! with UID 1000): the spec's user takes them over. Entries with the same name or
//! the same id are removed and ours is appended, so `id` shows our name; files the
//! base gave the old account keep their numeric owner, which is now ours.

use crate::llb::{Chown, FileChain};
use crate::spec::User;

/// The account files to read from a base image, and where they are.
pub const ACCOUNT_FILES: [&str; 3] = ["/etc/passwd", "/etc/group", "/etc/shadow"];

/// A base image's account files; `None` where the image has no such file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
    pub shadow: Option<String>,
}

impl AccountFiles {
    /// The files with `user` (and its primary group) added, replacing any clash.
    pub fn with_user(&self, user: &User) -> AccountFiles {
        let passwd_line = format!("{}:x:{}:{}::{}:{}", user.name, user.uid, user.gid, user.home, user.shell);
        let group_line = format!("{}:x:{}:", user.name, user.gid);
        let passwd = self.passwd.clone().unwrap_or_else(|| "root:x:0:0:root:/root:/bin/sh\n".into());
        let group = self.group.clone().unwrap_or_else(|| "root:x:0:\n".into());
        AccountFiles {
            passwd: Some(replace_entry(&passwd, &user.name, user.uid, &passwd_line)),
            group: Some(replace_entry(&group, &user.name, user.gid, &group_line)),
            // A locked password: the account cannot log in, only run processes.
            shadow: self
                .shadow
                .as_ref()
                .map(|s| replace_entry(s, &user.name, u32::MAX, &format!("{}:!:::::::", user.name))),
        }
    }

    /// File actions that write these files and create the user's home.
    pub fn write(&self, user: &User) -> FileChain {
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
        chain.mkdir(&user.home, 0o755, true, Some(Chown::ids(user.uid, user.gid)))
    }
}

/// `text` without lines for `name` or for `id` (third field), plus `line`.
fn replace_entry(text: &str, name: &str, id: u32, line: &str) -> String {
    let id = id.to_string();
    let mut out: String = text
        .lines()
        .filter(|l| {
            let mut fields = l.split(':');
            let entry_name = fields.next().unwrap_or("");
            let entry_id = fields.nth(1).unwrap_or("");
            entry_name != name && entry_id != id
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(line);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(uid: u32) -> User {
        User { name: "app".into(), uid, gid: uid, home: "/home/app".into(), shell: "/bin/sh".into() }
    }

    #[test]
    fn adds_user_and_group() {
        let base = AccountFiles {
            passwd: Some("root:x:0:0:root:/root:/bin/bash\n".into()),
            group: Some("root:x:0:\n".into()),
            shadow: None,
        };
        let out = base.with_user(&app(1000));
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
        };
        let out = base.with_user(&app(1000));
        assert_eq!(out.passwd.unwrap(), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        assert_eq!(out.group.unwrap(), "root:x:0:\napp:x:1000:\n");
        assert_eq!(out.shadow.unwrap(), "root:*:1::::::\napp:!:::::::\n");
    }
}
