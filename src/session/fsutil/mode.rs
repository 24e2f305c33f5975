//! File modes on the wire are Go's `io/fs.FileMode`, not POSIX `st_mode`:
//! the permission bits are the same, but the file type and the setuid, setgid
//! and sticky flags live in the high bits.

pub const DIR: u32 = 1 << 31;
pub const SYMLINK: u32 = 1 << 27;
pub const DEVICE: u32 = 1 << 26;
pub const NAMED_PIPE: u32 = 1 << 25;
pub const SOCKET: u32 = 1 << 24;
pub const SETUID: u32 = 1 << 23;
pub const SETGID: u32 = 1 << 22;
pub const CHAR_DEVICE: u32 = 1 << 21;
pub const STICKY: u32 = 1 << 20;
pub const IRREGULAR: u32 = 1 << 19;
/// The bits that make an entry something other than a regular file.
pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;
pub const PERMISSIONS: u32 = 0o777;

const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFIFO: u32 = 0o010_000;
const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// The Go mode of a file with POSIX mode `st_mode`, as Go's `os.Lstat`
/// computes it.
pub fn from_unix(st_mode: u32) -> u32 {
    let file_type = match st_mode & S_IFMT {
        S_IFDIR => DIR,
        S_IFLNK => SYMLINK,
        S_IFBLK => DEVICE,
        S_IFCHR => DEVICE | CHAR_DEVICE,
        S_IFIFO => NAMED_PIPE,
        S_IFSOCK => SOCKET,
        _ => 0,
    };
    let flags = [(S_ISUID, SETUID), (S_ISGID, SETGID), (S_ISVTX, STICKY)]
        .into_iter()
        .filter(|&(unix, _)| st_mode & unix != 0)
        .fold(0, |acc, (_, go)| acc | go);
    (st_mode & PERMISSIONS) | file_type | flags
}

/// The POSIX permission bits (with setuid, setgid and sticky) of a Go mode,
/// as Go's `os.Chmod` sets them.
pub fn unix_permissions(go_mode: u32) -> u32 {
    [(SETUID, S_ISUID), (SETGID, S_ISGID), (STICKY, S_ISVTX)]
        .into_iter()
        .filter(|&(go, _)| go_mode & go != 0)
        .fold(go_mode & PERMISSIONS, |acc, (_, unix)| acc | unix)
}

/// Regular files are the entries whose content can be requested; sender and
/// receiver must agree on this, since it decides which IDs are valid.
pub fn is_regular(go_mode: u32) -> bool {
    go_mode & TYPE == 0
}

pub fn is_dir(go_mode: u32) -> bool {
    go_mode & DIR != 0
}

pub fn is_symlink(go_mode: u32) -> bool {
    go_mode & SYMLINK != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_modes_map_to_go_modes() {
        assert_eq!(from_unix(0o100_644), 0o644);
        assert_eq!(from_unix(0o040_755), DIR | 0o755);
        assert_eq!(from_unix(0o120_777), SYMLINK | 0o777);
        assert_eq!(from_unix(0o104_755), SETUID | 0o755);
        assert_eq!(from_unix(0o102_755), SETGID | 0o755);
        assert_eq!(from_unix(0o041_777), DIR | STICKY | 0o777);
        assert_eq!(from_unix(0o020_620), DEVICE | CHAR_DEVICE | 0o620);
        assert_eq!(from_unix(0o060_660), DEVICE | 0o660);
        assert_eq!(from_unix(0o010_644), NAMED_PIPE | 0o644);
        assert_eq!(from_unix(0o140_755), SOCKET | 0o755);
        assert_eq!(DIR, 0x8000_0000);
        assert_eq!(TYPE, 2_401_763_328);
    }

    #[test]
    fn go_modes_map_back_to_permissions() {
        assert_eq!(unix_permissions(DIR | STICKY | 0o777), 0o1777);
        assert_eq!(unix_permissions(SETUID | SETGID | 0o755), 0o6755);
        assert_eq!(unix_permissions(SYMLINK | 0o777), 0o777);
        assert!(is_regular(SETUID | 0o755));
        assert!(!is_regular(NAMED_PIPE | 0o644));
    }
}
