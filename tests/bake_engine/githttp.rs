//! A git smart-HTTP server on loopback for the remote-definition checks: each
//! request runs `git http-backend` (CGI) over a directory of bare repositories,
//! so the engine's git source can clone without the internet. Paths under
//! `/private/` answer 401 unless the request carries the expected
//! `Authorization` header; paths under `/files/` are served as plain files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

pub struct GitHttp {
    pub port: u16,
}

struct Config {
    root: PathBuf,
    /// The `Authorization` values `/private/` accepts.
    accepted: Vec<String>,
}

impl GitHttp {
    /// Serves `root` (bare repositories, and `files/`) until the process ends.
    pub fn start(root: PathBuf, accepted: Vec<String>) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let config = Arc::new(Config { root, accepted });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &config);
                });
            }
        });
        GitHttp { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

fn serve(stream: TcpStream, config: &Config) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));

    if let Some(file) = path.strip_prefix("/files/") {
        return match std::fs::read(config.root.join("files").join(file)) {
            Ok(data) => {
                write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len())?;
                out.write_all(&data)
            }
            Err(_) => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        };
    }
    if path.starts_with("/private/") && !header("authorization").is_some_and(|a| config.accepted.iter().any(|ok| ok.eq_ignore_ascii_case(&a))) {
        return out.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"leaven\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &config.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", length.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, variable) in [("content-type", "CONTENT_TYPE"), ("content-encoding", "HTTP_CONTENT_ENCODING"), ("git-protocol", "GIT_PROTOCOL")] {
        if let Some(v) = header(name) {
            cgi.env(variable, v);
        }
    }
    let mut child = cgi.spawn()?;
    child.stdin.take().expect("piped").write_all(&body)?;
    let output = child.wait_with_output()?;
    // CGI answers headers (with `Status:`) and a body; HTTP wants a status line.
    let split = output.stdout.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    let split = split.or_else(|| output.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let (head, data) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&output.stdout[..i]).into_owned(), &output.stdout[i + n..]),
        None => (String::new(), &output.stdout[..]),
    };
    let mut status = "200 OK".to_string();
    let mut response_headers = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response_headers.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    write!(out, "HTTP/1.1 {status}\r\n{response_headers}Content-Length: {}\r\nConnection: close\r\n\r\n", data.len())?;
    out.write_all(data)
}
