//! Transfers over in-memory channels, against real directories.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::*;
use crate::proto::fstypes::packet::PacketType;
use crate::proto::fstypes::Stat;

/// A directory under the system temp dir, removed when dropped.
pub struct TempTree {
    root: PathBuf,
}

static TREES: AtomicU64 = AtomicU64::new(0);

impl TempTree {
    pub fn new(name: &str) -> TempTree {
        let unique = TREES.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("leaven-fsutil-{name}-{}-{unique}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create temp dir");
        TempTree { root }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, rel: &str) {
        fs::create_dir_all(self.root.join(rel)).expect("create dir");
    }

    pub fn file(&self, rel: &str, content: &str) {
        fs::write(self.root.join(rel), content).expect("write file");
    }

    pub fn symlink(&self, target: &str, rel: &str) {
        std::os::unix::fs::symlink(target, self.root.join(rel)).expect("symlink");
    }

    pub fn chmod(&self, rel: &str, mode: u32) {
        fs::set_permissions(self.root.join(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        // Read-only directories from a received tree must be writable again
        // before they can be emptied.
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(entry.path());
                }
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Our side of a peer: what it sends us and how we answer it.
struct Peer {
    to_peer: mpsc::Sender<Result<Packet, Status>>,
    from_peer: mpsc::Receiver<Result<Packet, Status>>,
}

impl Peer {
    async fn next(&mut self) -> Packet {
        let received = tokio::time::timeout(Duration::from_secs(10), self.from_peer.recv()).await;
        received.expect("a packet in time").expect("stream still open").expect("no stream error")
    }

    async fn tell(&self, packet: Packet) {
        self.to_peer.send(Ok(packet)).await.expect("peer listening");
    }
}

fn kind(packet: &Packet) -> PacketType {
    PacketType::try_from(packet.r#type).expect("known packet type")
}

/// Starts `send` on `root` and gives the receiving end to the test.
fn start_send(root: &Path, filter: Filter) -> (Peer, tokio::task::JoinHandle<Result<(), FsError>>) {
    let (to_peer, incoming) = mpsc::channel(16);
    let (outgoing, from_peer) = mpsc::channel(16);
    let task = tokio::spawn(send(root.to_path_buf(), filter, ReceiverStream::new(incoming), outgoing));
    (Peer { to_peer, from_peer }, task)
}

/// The listing `send` produces, read up to its end; then the FIN exchange.
async fn listing(root: &Path, filter: Filter) -> Vec<Stat> {
    let (mut peer, task) = start_send(root, filter);
    let mut stats = Vec::new();
    loop {
        let packet = peer.next().await;
        assert_eq!(kind(&packet), PacketType::PacketStat);
        match packet.stat {
            Some(stat) => stats.push(stat),
            None => break,
        }
    }
    peer.tell(packet::fin()).await;
    assert_eq!(kind(&peer.next().await), PacketType::PacketFin);
    task.await.expect("send task").expect("send succeeds");
    stats
}

fn paths(stats: &[Stat]) -> Vec<&str> {
    stats.iter().map(|s| s.path.as_str()).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn stat_of<'a>(stats: &'a [Stat], path: &str) -> &'a Stat {
    stats.iter().find(|s| s.path == path).unwrap_or_else(|| panic!("{path} listed"))
}

#[tokio::test]
async fn listing_follows_fsutil_walk_order() {
    let tree = TempTree::new("order");
    tree.dir("a/b");
    tree.file("a/b/c", "c");
    tree.file("a/d", "d");
    tree.file("a-b", "x");
    tree.file("a.txt", "x");
    tree.dir("B");
    tree.file("_", "x");
    let stats = listing(tree.path(), Filter::default()).await;
    // `/` sorts before `-` and `.`; uppercase before `_` before lowercase.
    assert_eq!(paths(&stats), ["B", "_", "a", "a/b", "a/b/c", "a/d", "a-b", "a.txt"]);
}

#[tokio::test]
async fn stats_carry_go_modes_and_no_owner() {
    let tree = TempTree::new("modes");
    tree.dir("dir");
    tree.chmod("dir", 0o750);
    tree.file("plain", "hello");
    tree.chmod("plain", 0o644);
    tree.file("tool", "#!/bin/sh\n");
    tree.chmod("tool", 0o755);
    tree.file("suid", "x");
    tree.chmod("suid", 0o4755);
    tree.symlink("plain", "link");
    let _socket = std::os::unix::net::UnixListener::bind(tree.path().join("socket")).expect("bind socket");
    // As root, give a file a real owner to see it reset; otherwise our own
    // uid is already non-zero.
    let _ = std::os::unix::fs::chown(tree.path().join("plain"), Some(1000), Some(1000));
    let stats = listing(tree.path(), Filter::default()).await;
    let dir = stat_of(&stats, "dir");
    assert_eq!(dir.mode, mode::DIR | 0o750);
    assert_eq!(dir.size, 0);
    let plain = stat_of(&stats, "plain");
    assert_eq!((plain.mode, plain.size, plain.uid, plain.gid), (0o644, 5, 0, 0));
    let modified = fs::metadata(tree.path().join("plain")).expect("stat").modified().expect("mtime");
    let modified_ns = modified.duration_since(std::time::UNIX_EPOCH).expect("after epoch").as_nanos();
    assert_eq!(plain.mod_time as u128, modified_ns);
    assert_eq!(stat_of(&stats, "tool").mode, 0o755);
    assert_eq!(stat_of(&stats, "suid").mode, mode::SETUID | 0o755);
    let link = stat_of(&stats, "link");
    assert_eq!((link.mode, link.linkname.as_str(), link.size), (mode::SYMLINK | 0o777, "plain", 5));
    // The socket bit is cleared, so a socket looks like a regular file.
    assert_eq!(stat_of(&stats, "socket").mode & mode::TYPE, 0);
    assert!(stats.iter().all(|s| s.uid == 0 && s.gid == 0));
}

#[tokio::test]
async fn ids_are_listing_positions_and_contents_come_in_chunks() {
    let tree = TempTree::new("ids");
    tree.dir("a");
    let big: String = (0..40_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    tree.file("a/big", &big);
    tree.file("b", "small");
    let (mut peer, task) = start_send(tree.path(), Filter::default());
    let mut stats = Vec::new();
    while let Some(stat) = peer.next().await.stat {
        stats.push(stat);
    }
    assert_eq!(paths(&stats), ["a", "a/big", "b"]);
    // The directory has ID 0 and cannot be requested.
    peer.tell(packet::request(1)).await;
    let mut content = Vec::new();
    let mut chunks = 0;
    loop {
        let packet = peer.next().await;
        assert_eq!((kind(&packet), packet.id), (PacketType::PacketData, 1));
        if packet.data.is_empty() {
            break;
        }
        assert!(packet.data.len() <= 32 * 1024);
        chunks += 1;
        content.extend(packet.data);
    }
    assert_eq!(content, big.as_bytes());
    assert!(chunks >= 2, "40 000 bytes take more than one 32 KiB chunk");
    peer.tell(packet::request(2)).await;
    let packet = peer.next().await;
    assert_eq!((packet.id, packet.data.as_slice()), (2, b"small".as_slice()));
    assert!(peer.next().await.data.is_empty());
    peer.tell(packet::fin()).await;
    assert_eq!(kind(&peer.next().await), PacketType::PacketFin);
    task.await.expect("send task").expect("send succeeds");
}

#[tokio::test]
async fn unknown_ids_fail_the_transfer() {
    let tree = TempTree::new("unknown-id");
    tree.dir("dir");
    tree.file("file", "x");
    for id in [0, 7] {
        let (mut peer, task) = start_send(tree.path(), Filter::default());
        while peer.next().await.stat.is_some() {}
        peer.tell(packet::request(id)).await;
        let outcome = task.await.expect("send task");
        assert!(matches!(outcome, Err(FsError::InvalidFileId(got)) if got == id), "{outcome:?}");
    }
    // A file can be requested once.
    let (mut peer, task) = start_send(tree.path(), Filter::default());
    while peer.next().await.stat.is_some() {}
    peer.tell(packet::request(1)).await;
    peer.tell(packet::request(1)).await;
    assert!(matches!(task.await.expect("send task"), Err(FsError::InvalidFileId(1))));
}

#[tokio::test]
async fn files_that_cannot_be_opened_are_sent_empty() {
    let tree = TempTree::new("vanished");
    tree.file("gone", "content");
    let (mut peer, task) = start_send(tree.path(), Filter::default());
    while peer.next().await.stat.is_some() {}
    fs::remove_file(tree.path().join("gone")).expect("remove");
    peer.tell(packet::request(0)).await;
    let packet = peer.next().await;
    assert_eq!((kind(&packet), packet.id, packet.data.len()), (PacketType::PacketData, 0, 0));
    peer.tell(packet::fin()).await;
    assert_eq!(kind(&peer.next().await), PacketType::PacketFin);
    task.await.expect("send task").expect("send succeeds");
}

#[tokio::test]
async fn errors_from_the_receiver_and_closed_streams_end_the_transfer() {
    let tree = TempTree::new("receiver-error");
    tree.file("file", "x");
    let (mut peer, task) = start_send(tree.path(), Filter::default());
    while peer.next().await.stat.is_some() {}
    peer.tell(packet::error("disk full")).await;
    let outcome = task.await.expect("send task");
    assert!(matches!(&outcome, Err(FsError::ReceiverFailed(m)) if m == "disk full"), "{outcome:?}");
    let (peer, task) = start_send(tree.path(), Filter::default());
    drop(peer.to_peer);
    assert!(matches!(task.await.expect("send task"), Err(FsError::StreamEnded)));
}

#[tokio::test]
async fn walk_errors_are_reported_to_the_receiver() {
    use std::os::unix::ffi::OsStrExt;
    let tree = TempTree::new("walk-error");
    tree.file("a", "x");
    fs::write(tree.path().join(std::ffi::OsStr::from_bytes(b"b\xff")), "x").expect("write");
    let (mut peer, task) = start_send(tree.path(), Filter::default());
    assert_eq!(peer.next().await.stat.map(|s| s.path).as_deref(), Some("a"));
    let reported = peer.next().await;
    assert_eq!(kind(&reported), PacketType::PacketErr);
    assert!(String::from_utf8_lossy(&reported.data).contains("not UTF-8"));
    assert!(matches!(task.await.expect("send task"), Err(FsError::NotUtf8 { .. })));
}

/// A context tree used by the filter tests.
fn context_tree(name: &str) -> TempTree {
    let tree = TempTree::new(name);
    tree.dir("src/app");
    tree.file("src/app/main.py", "print()");
    tree.file("src/app/notes.md", "");
    tree.dir("src/vendor");
    tree.file("src/vendor/lib.py", "");
    tree.dir("node_modules/keep");
    tree.file("node_modules/keep/index.js", "");
    tree.dir("node_modules/other");
    tree.file("node_modules/other/index.js", "");
    tree.file("Dockerfile", "FROM x");
    tree.file("README.md", "");
    tree
}

#[tokio::test]
async fn include_patterns_keep_matches_and_their_parents() {
    let tree = context_tree("include");
    let filter = Filter { include: strings(&["src/app/*.py", "Dockerfile"]), ..Filter::default() };
    let stats = listing(tree.path(), filter).await;
    // The parents `src` and `src/app` are listed just before their first kept
    // entry, though they do not match themselves.
    assert_eq!(paths(&stats), ["Dockerfile", "src", "src/app", "src/app/main.py"]);
    let filter = Filter { include: strings(&["src"]), ..Filter::default() };
    let stats = listing(tree.path(), filter).await;
    assert_eq!(
        paths(&stats),
        ["src", "src/app", "src/app/main.py", "src/app/notes.md", "src/vendor", "src/vendor/lib.py"]
    );
}

#[tokio::test]
async fn exclude_patterns_and_exceptions() {
    let tree = context_tree("exclude");
    let filter =
        Filter { exclude: strings(&["node_modules", "!node_modules/keep", "*.md", "src/vendor"]), ..Filter::default() };
    let stats = listing(tree.path(), filter).await;
    // `*.md` only matches at the top level; `src/app/notes.md` stays.
    assert_eq!(
        paths(&stats),
        [
            "Dockerfile",
            "node_modules",
            "node_modules/keep",
            "node_modules/keep/index.js",
            "src",
            "src/app",
            "src/app/main.py",
            "src/app/notes.md"
        ]
    );
    // Include and exclude together: a path must pass both.
    let filter = Filter { include: strings(&["src"]), exclude: strings(&["**/*.md"]), ..Filter::default() };
    let stats = listing(tree.path(), filter).await;
    assert_eq!(paths(&stats), ["src", "src/app", "src/app/main.py", "src/vendor", "src/vendor/lib.py"]);
}

#[tokio::test]
async fn files_listed_by_the_walk_but_refused_on_open_arrive_empty() {
    // fsutil walks with per-directory results but opens with the full
    // parent check; with these patterns they disagree about `a/b`.
    let tree = TempTree::new("open-check");
    tree.dir("a");
    tree.file("a/b", "content");
    let filter = Filter { exclude: strings(&["a", "!a/b", "a"]), ..Filter::default() };
    let (mut peer, task) = start_send(tree.path(), filter);
    let mut stats = Vec::new();
    while let Some(stat) = peer.next().await.stat {
        stats.push(stat);
    }
    assert_eq!(paths(&stats), ["a", "a/b"]);
    peer.tell(packet::request(1)).await;
    assert!(peer.next().await.data.is_empty());
    peer.tell(packet::fin()).await;
    assert_eq!(kind(&peer.next().await), PacketType::PacketFin);
    task.await.expect("send task").expect("send succeeds");
}

#[tokio::test]
async fn follow_paths_include_symlinks_and_their_targets() {
    let tree = TempTree::new("follow");
    tree.dir("build");
    tree.file("build/Dockerfile", "FROM x");
    tree.symlink("build/Dockerfile", "Dockerfile");
    tree.file("other", "");
    let filter = Filter { follow_paths: strings(&["Dockerfile", "Dockerfile.dockerignore"]), ..Filter::default() };
    let stats = listing(tree.path(), filter).await;
    assert_eq!(paths(&stats), ["Dockerfile", "build", "build/Dockerfile"]);
}

#[tokio::test]
async fn hardlinks_point_at_the_first_listed_path() {
    let tree = TempTree::new("hardlinks");
    tree.file("a", "shared");
    fs::hard_link(tree.path().join("a"), tree.path().join("b")).expect("link");
    fs::hard_link(tree.path().join("a"), tree.path().join("c")).expect("link");
    let stats = listing(tree.path(), Filter::default()).await;
    assert_eq!(stat_of(&stats, "a").linkname, "");
    assert_eq!(stat_of(&stats, "b").linkname, "a");
    assert_eq!(stat_of(&stats, "c").linkname, "a");
    // fsutil's stat keeps the size on the link.
    assert_eq!(stat_of(&stats, "b").size, 6);
    // With the first path filtered out, the next listed one carries the
    // content and later ones point at it.
    let stats = listing(tree.path(), Filter { exclude: strings(&["a"]), ..Filter::default() }).await;
    assert_eq!(paths(&stats), ["b", "c"]);
    assert_eq!(stat_of(&stats, "b").linkname, "");
    assert_eq!(stat_of(&stats, "c").linkname, "b");
}

/// A snapshot of a tree for comparison: per path, its kind, mode bits and
/// content (or link target).
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>, i64)> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).expect("inside").to_string_lossy().into_owned();
            let metadata = fs::symlink_metadata(&path).expect("lstat");
            let content = if metadata.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else if metadata.file_type().is_fifo() {
                Vec::new()
            } else if metadata.file_type().is_symlink() {
                fs::read_link(&path).expect("readlink").into_os_string().into_encoded_bytes()
            } else {
                fs::read(&path).expect("read")
            };
            let mtime = if metadata.is_dir() { 0 } else { metadata.mtime() };
            found.insert(rel, (metadata.mode(), content, mtime));
        }
    }
    found
}

/// Runs `send` on `source` into `receive` at `dest` through two channels.
async fn copy(source: &Path, dest: &Path) {
    let (to_receiver, receiver_in) = mpsc::channel(16);
    let (to_sender, sender_in) = mpsc::channel(16);
    let sending =
        tokio::spawn(send(source.to_path_buf(), Filter::default(), ReceiverStream::new(sender_in), to_receiver));
    let receiving = tokio::spawn(receive(dest.to_path_buf(), ReceiverStream::new(receiver_in), to_sender));
    let (sent, received) = tokio::time::timeout(Duration::from_secs(20), async { (sending.await, receiving.await) })
        .await
        .expect("copy finishes");
    sent.expect("send task").expect("send succeeds");
    received.expect("receive task").expect("receive succeeds");
}

#[tokio::test]
async fn send_into_receive_reproduces_the_tree() {
    let source = TempTree::new("loop-src");
    source.dir("app/static");
    source.file("app/main.py", "print('hi')\n");
    source.file("app/static/big.bin", &"x".repeat(100_000));
    source.file("app/empty", "");
    source.file("run.sh", "#!/bin/sh\n");
    source.chmod("run.sh", 0o755);
    source.file("secret", "s");
    source.chmod("secret", 0o600);
    source.file("readonly", "r");
    source.chmod("readonly", 0o444);
    source.symlink("app/main.py", "main-link");
    source.symlink("/nowhere/at/all", "dangling");
    source.dir("locked");
    source.file("locked/inside", "i");
    source.chmod("locked", 0o555);
    source.dir("shared");
    source.chmod("shared", 0o1777);
    fs::hard_link(source.path().join("app/main.py"), source.path().join("hard")).expect("link");
    let fifo_mode = rustix::fs::Mode::from_raw_mode(0o640);
    rustix::fs::mknodat(rustix::fs::CWD, source.path().join("pipe"), rustix::fs::FileType::Fifo, fifo_mode, 0)
        .expect("mkfifo");
    // Extended attributes travel where the file system has them.
    let xattr =
        rustix::fs::lsetxattr(source.path().join("secret"), "user.leaven", b"kept", rustix::fs::XattrFlags::empty());
    let dest = TempTree::new("loop-dest");
    // What is already there stays, and a symlink in the way is replaced
    // rather than written through.
    dest.file("kept", "old");
    dest.file("run.sh", "an older file");
    dest.dir("secret/was-a-dir");
    let elsewhere = TempTree::new("loop-elsewhere");
    dest.symlink(&elsewhere.path().to_string_lossy(), "app");
    copy(source.path(), dest.path()).await;
    let expected = snapshot(source.path());
    let mut got = snapshot(dest.path());
    assert_eq!(got.remove("kept").map(|k| k.1), Some(b"old".to_vec()));
    // Directory mtimes are set at the end, so compare them separately.
    for (path, (mode, _, _)) in expected.iter().filter(|(_, v)| v.0 & 0o170_000 == 0o040_000) {
        let sent = fs::metadata(source.path().join(path)).expect("stat").mtime();
        let written = fs::metadata(dest.path().join(path)).expect("stat").mtime();
        assert_eq!(sent, written, "{path} mtime, mode {mode:o}");
    }
    assert_eq!(got, expected);
    let same_inode = |a: &str, b: &str| {
        fs::metadata(dest.path().join(a)).expect("stat").ino() == fs::metadata(dest.path().join(b)).expect("stat").ino()
    };
    assert!(same_inode("hard", "app/main.py"));
    assert!(snapshot(elsewhere.path()).is_empty());
    if xattr.is_ok() {
        let mut value = [0; 16];
        let read =
            rustix::fs::lgetxattr(dest.path().join("secret"), "user.leaven", &mut value[..]).expect("xattr copied");
        assert_eq!(&value[..read], b"kept");
    }
}

#[tokio::test]
async fn many_files_do_not_stall_the_exchange() {
    // More files than the request queue and channels hold at once.
    let source = TempTree::new("many-src");
    for dir in 0..6 {
        source.dir(&format!("d{dir}"));
        for file in 0..150 {
            source.file(&format!("d{dir}/f{file}"), &format!("{dir}-{file}"));
        }
    }
    let dest = TempTree::new("many-dest");
    copy(source.path(), dest.path()).await;
    assert_eq!(snapshot(dest.path()), snapshot(source.path()));
}

/// Starts `receive` into `dest` and gives the sending end to the test.
fn start_receive(dest: &Path) -> (Peer, tokio::task::JoinHandle<Result<(), FsError>>) {
    let (to_peer, incoming) = mpsc::channel(16);
    let (outgoing, from_peer) = mpsc::channel(16);
    let task = tokio::spawn(receive(dest.to_path_buf(), ReceiverStream::new(incoming), outgoing));
    (Peer { to_peer, from_peer }, task)
}

fn entry(path: &str, mode: u32) -> Packet {
    packet::stat(Some(Stat { path: path.to_string(), mode, ..Stat::default() }))
}

#[tokio::test]
async fn receive_requests_files_then_exchanges_fin() {
    let dest = TempTree::new("fin");
    let (mut peer, task) = start_receive(dest.path());
    peer.tell(entry("dir", mode::DIR | 0o755)).await;
    peer.tell(entry("dir/file", 0o640)).await;
    peer.tell(packet::stat(None)).await;
    let request = peer.next().await;
    assert_eq!((kind(&request), request.id), (PacketType::PacketReq, 1));
    peer.tell(packet::data(1, b"part one, ".to_vec())).await;
    peer.tell(packet::data(1, b"part two".to_vec())).await;
    peer.tell(packet::data(1, Vec::new())).await;
    assert_eq!(kind(&peer.next().await), PacketType::PacketFin);
    peer.tell(packet::fin()).await;
    // Dropping the stream after the FIN exchange is a normal end.
    drop(peer.to_peer);
    task.await.expect("receive task").expect("receive succeeds");
    let written = dest.path().join("dir/file");
    assert_eq!(fs::read_to_string(&written).expect("read"), "part one, part two");
    assert_eq!(fs::metadata(&written).expect("stat").mode() & 0o7777, 0o640);
}

#[tokio::test]
async fn receive_rejects_escapes_and_disorder() {
    let outside = std::env::temp_dir().join("x");
    let existed_before = outside.exists();
    let cases: Vec<(Vec<Packet>, &str)> = vec![
        (vec![entry("../x", 0o644)], "escape check"),
        (vec![entry("/etc/x", 0o644)], "absolute path"),
        (vec![entry("b", 0o644), entry("a", 0o644)], "out of order"),
        (vec![entry("dir/file", 0o644)], "out of order"),
        (vec![entry("link", mode::SYMLINK | 0o777), entry("link/file", 0o644)], "out of order"),
    ];
    for (packets, expected) in cases {
        let dest = TempTree::new("reject");
        let (mut peer, task) = start_receive(dest.path());
        for packet in packets {
            peer.tell(packet).await;
        }
        let outcome = task.await.expect("receive task");
        let message = outcome.expect_err("rejected").to_string();
        assert!(message.contains(expected), "{message}");
        // The sender is told why.
        let mut told = None;
        while let Ok(Some(Ok(packet))) = tokio::time::timeout(Duration::from_secs(5), peer.from_peer.recv()).await {
            if kind(&packet) == PacketType::PacketErr {
                told = Some(String::from_utf8_lossy(&packet.data).into_owned());
            }
        }
        assert_eq!(told.as_deref(), Some(message.as_str()));
    }
    assert_eq!(outside.exists(), existed_before);
}

#[tokio::test]
async fn receive_rejects_data_nobody_asked_for() {
    let dest = TempTree::new("unasked");
    let (peer, task) = start_receive(dest.path());
    peer.tell(entry("dir", mode::DIR | 0o755)).await;
    peer.tell(packet::data(0, b"x".to_vec())).await;
    assert!(matches!(task.await.expect("receive task"), Err(FsError::UnexpectedData(0))));
}

#[test]
fn encoded_patterns_are_unescaped() {
    let values = strings(&["caf%C3%A9%2F%2A.txt", "a+b", "bad%zz", "plain"]);
    assert_eq!(decode_patterns(values.clone(), true), ["café/*.txt", "a b", "", "plain"]);
    assert_eq!(decode_patterns(values.clone(), false), values);
    assert!(encoded_flag(&strings(&["1"])));
    assert!(encoded_flag(&strings(&["true"])));
    assert!(!encoded_flag(&strings(&["0"])));
    assert!(!encoded_flag(&[]));
}
