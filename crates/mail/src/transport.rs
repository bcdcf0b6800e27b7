//! Where mail goes: an SMTP server (`SMTP_URL`), or `.eml` files in a folder
//! (development without `SMTP_URL`).

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use secrecy::{ExposeSecret as _, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("SMTP_URL must look like smtp://[user:pass@]host[:port] or smtps://…: {0}")]
    BadUrl(String),
    #[error("cannot create the mail folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error(transparent)]
    File(#[from] lettre::transport::file::Error),
}

#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files {
        dir: PathBuf,
        transport: AsyncFileTransport<Tokio1Executor>,
    },
}

impl Transport {
    /// `smtp://[user:pass@]host[:port]` (STARTTLS when the server offers it;
    /// port 587 by default) or `smtps://…` (TLS from the first byte; port 465).
    pub fn smtp(url: &SecretString, timeout: Duration) -> Result<Self, TransportError> {
        let url = url::Url::parse(url.expose_secret())
            .map_err(|e| TransportError::BadUrl(e.to_string()))?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| TransportError::BadUrl("no host".to_owned()))?
            .to_owned();
        let tls = TlsParameters::new(host.clone())?;
        let (tls, default_port) = match url.scheme() {
            "smtp" => (Tls::Opportunistic(tls), 587),
            "smtps" => (Tls::Wrapper(tls), 465),
            other => return Err(TransportError::BadUrl(format!("unknown scheme {other:?}"))),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(timeout));
        if !url.username().is_empty() {
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(part)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            builder = builder.credentials(Credentials::new(
                decode(url.username()),
                decode(url.password().unwrap_or_default()),
            ));
        }
        Ok(Self::Smtp(builder.build()))
    }

    /// Writes each message as `{id}.eml` into `dir` (created if missing).
    pub fn files(dir: PathBuf) -> Result<Self, TransportError> {
        std::fs::create_dir_all(&dir).map_err(|e| TransportError::Folder(dir.clone(), e))?;
        Ok(Self::Files {
            transport: AsyncFileTransport::new(&dir),
            dir,
        })
    }

    /// A human description for the start-up log (never credentials).
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "SMTP".to_owned(),
            Self::Files { dir, .. } => format!("files in {}", dir.display()),
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), TransportError> {
        match self {
            Self::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Self::Files { transport, .. } => {
                transport.send(message).await?;
            }
        }
        Ok(())
    }
}
