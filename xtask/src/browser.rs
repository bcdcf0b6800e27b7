//! What the browser suite needs beside the Python environment: Debian's
//! Chromium and chromedriver (installed with apt-get where this machine
//! allows), and axe-core from the npm registry under `target/node`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{deploy, root, run};

/// The axe-core release the suite checks the pages with.
const AXE_CORE: &str = "axe-core@4.14.1";

/// Chromium and chromedriver (on the PATH, or where `CHROMIUM` and
/// `CHROMEDRIVER` say: a runner's preinstalled Chrome), and the path of
/// `axe.min.js`.
pub(crate) fn ensure() -> Result<PathBuf> {
    let given = |variable: &str| {
        std::env::var_os(variable).is_some_and(|path| std::path::Path::new(&path).exists())
    };
    let chromium =
        given("CHROMIUM") || deploy::ensure("chromium", &[deploy::Install::Apt("chromium")]);
    let driver = given("CHROMEDRIVER")
        || deploy::ensure("chromedriver", &[deploy::Install::Apt("chromium-driver")]);
    if !(chromium && driver) {
        bail!(
            "the browser suite needs Chromium and chromedriver. Install them \
             (Debian: `apt-get install chromium chromium-driver`; Ubuntu: the \
             chromium snap and its chromedriver; macOS: `brew install --cask chromium chromedriver`)"
        );
    }
    axe()
}

fn axe() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("TEST_AXE") {
        return Ok(PathBuf::from(path));
    }
    let prefix = root().join("target/node");
    let script = prefix.join("node_modules/axe-core/axe.min.js");
    let stamp = prefix.join("installed");
    if script.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(AXE_CORE) {
        return Ok(script);
    }
    println!("xtask: installing {AXE_CORE} (npm) into target/node for the browser suite");
    std::fs::create_dir_all(&prefix)?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&prefix)
        .arg(AXE_CORE);
    run(npm).context(
        "npm could not install axe-core (the browser suite's accessibility checker); \
         install Node.js and npm (Debian: `apt-get install nodejs npm`)",
    )?;
    std::fs::write(&stamp, AXE_CORE)?;
    Ok(script)
}
