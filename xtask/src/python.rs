//! The Python tools the tests use (`aiosmtpd`, a real SMTP server; `schemathesis`,
//! the API fuzzer), in a virtual environment of the project's own under
//! `target/py`, installed from `xtask/requirements.txt` when missing or stale.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{root, run};

/// The Python with the tools installed: `TEST_PYTHON` when set, else
/// `target/py/bin/python` (created or updated here).
pub(crate) fn ensure_tools() -> Result<PathBuf> {
    if let Ok(python) = std::env::var("TEST_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = root().join("target/py");
    let python = venv.join("bin/python");
    let requirements = root().join("xtask/requirements.txt");
    let stamp = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("xtask/requirements.txt")?;
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(python);
    }
    if !python.exists() {
        eprintln!("xtask: creating the Python environment target/py");
        let mut venv_cmd = Command::new("python3");
        venv_cmd.args(["-m", "venv"]).arg(&venv);
        if run(venv_cmd).is_err() {
            bail!(
                "the tests need Python 3 with venv (aiosmtpd, schemathesis). Install it \
                 (Debian/Ubuntu: `apt-get install python3 python3-venv`; macOS: `brew install python`)"
            );
        }
    }
    eprintln!("xtask: installing xtask/requirements.txt into target/py");
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
    ])
    .arg(&requirements);
    run(pip)?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}
