//! The pool, and how each repository operation gets its connection.
//!
//! ## Behind a transaction-mode pooler (PgBouncer `pool_mode = transaction`)
//! Such a pooler lends a server connection for one transaction and takes it
//! back at the next idle `ReadyForQuery`. Two things sqlx does by default
//! break there:
//! - An extended-protocol query is two round trips (`Parse`/`Describe`/`Sync`,
//!   then `Bind`/`Execute`/`Sync`): outside a transaction the second may reach
//!   another server connection, where the statement does not exist. So every
//!   operation runs in an explicit transaction ([`Db::conn`] and [`Db::begin`]),
//!   which pins one server connection from `BEGIN` to `COMMIT`.
//! - Named prepared statements outlive the transaction on the server
//!   connection, where another client may reuse the name. So the statement
//!   cache is off (each statement is prepared in the transaction that runs it)
//!   and each transaction starts with `DEALLOCATE ALL`, in the same simple
//!   query as its `BEGIN`, clearing what an earlier borrower left.
//!
//! PgBouncer 1.21+ (`max_prepared_statements`) would make the second point
//! moot; Debian bookworm's 1.18 needs it, and it costs nothing extra: the
//! `DEALLOCATE ALL` rides on the `BEGIN`'s round trip.
//!
//! Connected directly, [`Db::conn`] is a plain pooled connection and statements
//! stay cached: nothing changes on the fast path.

use std::ops::{Deref, DerefMut};

use domain::ports::RepoResult;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::DbResultExt as _;

/// `BEGIN` for a connection lent by a transaction-mode pooler.
const PINNED_BEGIN: &str = "BEGIN; DEALLOCATE ALL";

/// The database handle every repository holds. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    transaction_pooler: bool,
}

impl From<PgPool> for Db {
    /// A pool connected directly to PostgreSQL.
    fn from(pool: PgPool) -> Self {
        Self::new(pool, false)
    }
}

impl Db {
    /// `transaction_pooler`: the pool's connections lead to a pooler in
    /// transaction mode, and were built without a statement cache
    /// ([`crate::connect_lazy`] does both).
    pub fn new(pool: PgPool, transaction_pooler: bool) -> Self {
        Self {
            pool,
            transaction_pooler,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn behind_transaction_pooler(&self) -> bool {
        self.transaction_pooler
    }

    /// Closes the pool, waiting for borrowed connections to come back.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A connection for one operation of single statements. Finish it with
    /// [`Conn::done`]; dropped without, its work is rolled back when it is
    /// pinned (behind a transaction pooler).
    pub(crate) async fn conn(&self) -> RepoResult<Conn> {
        Ok(if self.transaction_pooler {
            Conn::Pinned(self.pool.begin_with(PINNED_BEGIN).await.db()?)
        } else {
            Conn::Direct(self.pool.acquire().await.db()?)
        })
    }

    /// A transaction.
    pub(crate) async fn begin(&self) -> RepoResult<Transaction<'static, Postgres>> {
        if self.transaction_pooler {
            self.pool.begin_with(PINNED_BEGIN).await.db()
        } else {
            self.pool.begin().await.db()
        }
    }
}

/// A connection for one repository operation: pooled as is, or pinned in a
/// transaction behind a transaction pooler.
pub(crate) enum Conn {
    Direct(PoolConnection<Postgres>),
    Pinned(Transaction<'static, Postgres>),
}

impl Conn {
    /// Ends the operation: commits when pinned, gives the connection back.
    pub(crate) async fn done(self) -> RepoResult<()> {
        match self {
            Self::Direct(_) => Ok(()),
            Self::Pinned(tx) => tx.commit().await.db(),
        }
    }
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        match self {
            Self::Direct(conn) => conn,
            Self::Pinned(tx) => tx,
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Self::Direct(conn) => conn,
            Self::Pinned(tx) => tx,
        }
    }
}
