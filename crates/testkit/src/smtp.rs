//! A real SMTP server for tests: Python's `aiosmtpd`, started on a free loopback
//! port, storing what it receives in a Maildir the test reads.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// The Python that has `aiosmtpd`: `TEST_PYTHON` (set by `cargo xtask test`,
/// which installs it into `target/py`), else `python3`.
pub fn python() -> String {
    std::env::var("TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

pub struct SmtpSink {
    port: u16,
    maildir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(&python())
    }

    /// The same, with the Python given (the benchmark's own environment).
    pub fn start_with(python: &str) -> Self {
        let port = free_port();
        let maildir = std::env::temp_dir().join(crate::unique_name("czt-smtp"));
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {python} -m aiosmtpd ({e}); run `cargo xtask test`, which installs it into target/py, or `pip install aiosmtpd`")
            });
        let mut sink = Self {
            port,
            maildir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.child.try_wait() {
                panic!(
                    "aiosmtpd exited at start ({status}): is it installed for {python}? `cargo xtask test` installs it"
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:{port}`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Every message received so far, raw (RFC 5322), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Messages to `recipient`, oldest first.
    pub fn messages_to(&self, recipient: &str) -> Vec<String> {
        let needle = format!("To: {recipient}");
        self.messages()
            .into_iter()
            .filter(|m| m.lines().any(|line| line.eq_ignore_ascii_case(&needle)))
            .collect()
    }

    /// Waits (up to 15 s) until `recipient` has `count` messages; returns them.
    pub async fn wait_for(&self, recipient: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let messages = self.messages_to(recipient);
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{recipient} received {} of {count} mails",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// A raw mail with quoted-printable soft line breaks and `=3D` undone, so
/// links and addresses in its parts can be searched for.
pub fn readable(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The token of the first `{page}?token=…` link in a raw mail.
pub fn link_token(mail: &str, page: &str) -> Option<String> {
    let mail = readable(mail);
    let needle = format!("/{page}?token=");
    let start = mail.find(&needle)? + needle.len();
    let token: String = mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}
