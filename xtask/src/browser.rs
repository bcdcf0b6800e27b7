//! What the browser suite and the Node relying party need beside the Python
//! environment: Debian's Chromium and chromedriver (installed with apt-get
//! where this machine allows), and axe-core and openid-client from the npm
//! registry under `target/node`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{deploy, root, run};

/// The npm packages the suites use, pinned: axe-core (the browser suite's
/// accessibility checker) and openid-client (a relying party written by
/// someone else, for the OpenID provider's suite).
const NODE_PACKAGES: [&str; 2] = ["axe-core@4.14.1", "openid-client@6.9.1"];

/// What the suites get from npm.
pub(crate) struct NodeTools {
    /// `axe.min.js`.
    pub(crate) axe: PathBuf,
    /// The `node_modules` the Node relying party imports from.
    pub(crate) modules: PathBuf,
}

/// Chromium and chromedriver (on the PATH, or where `CHROMIUM` and
/// `CHROMEDRIVER` say: a runner's preinstalled Chrome), and the npm packages.
pub(crate) fn ensure() -> Result<NodeTools> {
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
    node_packages()
}

fn node_packages() -> Result<NodeTools> {
    let prefix = root().join("target/node");
    let modules = prefix.join("node_modules");
    let axe = std::env::var("TEST_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| modules.join("axe-core/axe.min.js"));
    let stamp = prefix.join("installed");
    let wanted = NODE_PACKAGES.join(" ");
    if axe.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(NodeTools { axe, modules });
    }
    println!(
        "xtask: installing {wanted} (npm) into target/node for the browser and provider suites"
    );
    std::fs::create_dir_all(&prefix)?;
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&prefix)
        .args(NODE_PACKAGES);
    run(npm).context(
        "npm could not install the suites' packages (axe-core, openid-client); \
         install Node.js ≥ 20 and npm (Debian: `apt-get install nodejs npm`)",
    )?;
    std::fs::write(&stamp, &wanted)?;
    Ok(NodeTools { axe, modules })
}
