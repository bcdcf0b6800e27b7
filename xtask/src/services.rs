//! What the test suites need — PostgreSQL, Redis, the Python tools, nginx,
//! PgBouncer, iproute2, the browser — checked or installed, and the
//! `cargo test` runs that use them (`cargo xtask test`, `cargo xtask screenshots`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::*;

/// What the test suites need, checked or installed: the servers' URLs and the
/// Python with the test tools.
pub(crate) struct TestServices {
    pub(crate) database_url: String,
    pub(crate) redis_url: String,
    pub(crate) python: PathBuf,
    /// `axe.min.js` (the browser suite) and openid-client (the Node
    /// relying party).
    node: browser::NodeTools,
}

impl TestServices {
    /// A `cargo test` of `args` against these services (`redis_url`: this
    /// one, or another deployment's).
    pub(crate) fn cargo_test(&self, args: &[&str], redis_url: &str) -> Command {
        let mut test = cargo();
        test.args(args)
            .env("TEST_DATABASE_URL", &self.database_url)
            .env("TEST_REDIS_URL", redis_url)
            .env("TEST_PYTHON", &self.python)
            .env("TEST_AXE", &self.node.axe)
            .env("TEST_NODE_MODULES", &self.node.modules);
        test
    }
}

/// Makes sure every server and tool the tests use is there (installing what
/// this machine allows), or says what to install.
pub(crate) fn test_services() -> Result<TestServices> {
    ensure_openssl()?;
    let database_url = env_or("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL);
    ensure_postgres(&database_url)?;
    let redis_url = env_or("TEST_REDIS_URL", DEFAULT_REDIS_URL);
    ensure_redis(&redis_url)?;
    let python = python::ensure_tools()?;
    if !found("redis-server") {
        // The cache's fault tests start and kill Redis servers of their own.
        bail!(
            "the tests need the `redis-server` binary to start throwaway Redis servers. \
             Install it (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`)"
        );
    }
    // The gateway test puts a real nginx in front of the service.
    if !deploy::ensure("nginx", &[deploy::Install::Apt("nginx")])
        && !Path::new("/usr/sbin/nginx").exists()
    {
        bail!(
            "the gateway tests need nginx with auth_request. Install it \
             (Debian/Ubuntu: `apt-get install nginx`; macOS: `brew install nginx`)"
        );
    }
    // The pooler test runs the service behind Debian's PgBouncer.
    if !deploy::ensure("pgbouncer", &[deploy::Install::Apt("pgbouncer")])
        && !Path::new("/usr/sbin/pgbouncer").exists()
    {
        bail!(
            "the pooler test needs PgBouncer. Install it \
             (Debian/Ubuntu: `apt-get install pgbouncer`; macOS: `brew install pgbouncer`)"
        );
    }
    // The fault tests put Redis behind a veth pair in a network namespace and
    // shape the link with `tc` (iproute2).
    if !(deploy::ensure("ip", &[deploy::Install::Apt("iproute2")]) && found("tc")) {
        bail!(
            "the fault tests need iproute2 (`ip netns`, `tc`). Install it \
             (Debian/Ubuntu: `apt-get install iproute2`)"
        );
    }
    // The browser suite (Chromium, chromedriver, axe-core) and the Node
    // relying party (openid-client).
    let node = browser::ensure()?;
    Ok(TestServices {
        database_url,
        redis_url,
        python,
        node,
    })
}

/// `cargo xtask screenshots`: the browser suite's walk, keeping a picture of
/// every page it checks (light and dark) in `docs/img/`.
pub(crate) fn screenshots() -> Result<()> {
    let services = test_services()?;
    let dir = root().join("docs/img");
    std::fs::create_dir_all(&dir)?;
    let args = [
        "test",
        "--package",
        "app",
        "--test",
        "it",
        "browser::",
        "--",
        "--nocapture",
    ];
    let mut walk = services.cargo_test(&args, &services.redis_url);
    walk.env("UI_SCREENSHOTS", &dir);
    run(walk)?;
    println!("xtask: screenshots in {}", dir.display());
    Ok(())
}
