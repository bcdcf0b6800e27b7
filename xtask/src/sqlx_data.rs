//! `cargo xtask sqlx-prepare [--check]`: the offline query data in `.sqlx/`.
//!
//! The queries of `repo-postgres` are checked at compile time. Builds read the
//! committed descriptions in `.sqlx/` (`SQLX_OFFLINE=true` in
//! `.cargo/config.toml`), so they need no database. This command refreshes them:
//! it migrates a scratch database, compiles `repo-postgres` against it with
//! `SQLX_OFFLINE_DIR` set (sqlx's macros then write one file per query), and
//! replaces `.sqlx/`. With `--check` (run by `cargo xtask test`) it writes to a
//! scratch folder instead and fails when that differs from `.sqlx/`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use sqlx::Connection as _;

use crate::{DEFAULT_TEST_DATABASE_URL, cargo, ensure_postgres, env_or, root, run};

const SCRATCH_DATABASE: &str = "codezest_auth_sqlx_prepare";

pub(crate) fn prepare(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask sqlx-prepare [--check]"),
    };
    let server = env_or("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL);
    ensure_postgres(&server)?;
    let database_url = testkit::with_database(&server, SCRATCH_DATABASE);
    tokio::runtime::Runtime::new()?.block_on(migrate_scratch(&server, &database_url))?;

    let committed = root().join(".sqlx");
    let out = root().join("target/sqlx-prepare");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    // The macros run when the crate compiles. It compiles in a target folder of
    // its own, cleaned of repo-postgres alone, so the workspace's build is left
    // as it was (touching the source would rebuild every dependent crate).
    let target = root().join("target/sqlx-prepare-build");
    let mut clean = cargo();
    clean
        .args([
            "clean",
            "--package",
            "repo-postgres",
            "--quiet",
            "--target-dir",
        ])
        .arg(&target);
    run(clean)?;
    let mut check_build = cargo();
    check_build
        .args([
            "check",
            "--package",
            "repo-postgres",
            "--quiet",
            "--target-dir",
        ])
        .arg(&target)
        .env("SQLX_OFFLINE", "false")
        .env("SQLX_OFFLINE_DIR", &out)
        .env("DATABASE_URL", &database_url);
    run(check_build).context("compiling repo-postgres against the scratch database")?;
    let fresh = read_dir(&out)?;
    if fresh.is_empty() {
        bail!("sqlx wrote no query data to {}", out.display());
    }
    if check {
        if read_dir(&committed).unwrap_or_default() != fresh {
            bail!(
                ".sqlx/ is stale: the queries or the schema changed. Run `cargo xtask sqlx-prepare` \
                 and commit .sqlx/"
            );
        }
        println!("xtask: .sqlx/ is up to date ({} queries)", fresh.len());
        return Ok(());
    }
    if committed.exists() {
        std::fs::remove_dir_all(&committed)?;
    }
    std::fs::create_dir_all(&committed)?;
    for (name, contents) in &fresh {
        std::fs::write(committed.join(name), contents)?;
    }
    println!("xtask: wrote {} query descriptions to .sqlx/", fresh.len());
    Ok(())
}

/// A fresh database with every migration applied.
async fn migrate_scratch(server: &str, database_url: &str) -> Result<()> {
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .context("connect to PostgreSQL")?;
    for statement in [
        format!(r#"DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)"#),
        format!(r#"CREATE DATABASE "{SCRATCH_DATABASE}""#),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .context("create the scratch database")?;
    }
    let mut scratch = sqlx::PgConnection::connect(database_url).await?;
    sqlx::migrate::Migrator::new(root().join("migrations"))
        .await?
        .run(&mut scratch)
        .await
        .context("migrate the scratch database")?;
    Ok(())
}

fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.insert(name, std::fs::read_to_string(&path)?);
        }
    }
    Ok(files)
}
