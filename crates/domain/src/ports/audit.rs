//! The audit trail.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::RepoResult;
use crate::ids::UserId;

/// One thing that happened to an account.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub user_id: Option<UserId>,
    /// Who acted, when it was not the user themself (an admin).
    pub actor: Option<UserId>,
    pub event: &'static str,
    pub outcome: &'static str,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: uuid::Uuid,
    pub event: String,
    pub outcome: String,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The audit trail.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    async fn record(&self, event: AuditEvent) -> RepoResult<()>;
    /// A user's newest events first.
    async fn recent(&self, user_id: UserId, limit: i64) -> RepoResult<Vec<AuditRecord>>;
    /// Deletes events older than `before`; returns how many.
    async fn purge(&self, before: OffsetDateTime) -> RepoResult<u64>;
}
