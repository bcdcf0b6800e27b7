//! Readiness of the service's dependencies, for `/readyz`: an operations
//! concern, so it lives beside the route that reports it, not in the domain.
//! `app` implements [`ReadinessProbe`] over the database pool and the cache.

use async_trait::async_trait;

/// How a dependency is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    Up,
    /// Unreachable, but the service works without it (slower).
    Degraded,
    Down,
    /// Not configured in this build or by configuration.
    Disabled,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub postgres: ServiceStatus,
    pub redis: ServiceStatus,
}

/// Checks the service's dependencies.
#[async_trait]
pub trait ReadinessProbe: Send + Sync + 'static {
    async fn check(&self) -> Readiness;
}
