use std::sync::Arc;

use domain::{AuthService, ReadinessProbe};

use crate::limit::RateLimits;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<AuthService>,
    pub readiness: Arc<dyn ReadinessProbe>,
    pub limits: Arc<RateLimits>,
}
