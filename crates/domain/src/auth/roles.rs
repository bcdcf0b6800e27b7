//! The role grant the command line makes.

use super::AuthService;
use crate::audit::{AuditKind, Outcome};
use crate::client_info::ClientInfo;
use crate::error::{AuthError, Resource};
use crate::user::{Email, User, parse_roles};
use crate::validation::ValidationErrors;

impl AuthService {
    /// Grants `role` to the user with `email`, as the command line asks
    /// (`codezest-auth admin grant EMAIL`): audited with the CLI as the actor.
    pub async fn grant_role(&self, email: &Email, role: &str) -> Result<User, AuthError> {
        let user = self
            .users
            .find_by_email(email)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))?;
        let mut roles = user.roles.clone();
        roles.push(role.to_owned());
        let roles = parse_roles(&roles).map_err(ValidationErrors::from)?;
        let user = self
            .users
            .set_roles(user.id, &roles)
            .await?
            .ok_or(AuthError::NotFound(Resource::User))?;
        let cli = ClientInfo::new(Some("codezest-auth admin grant (command line)"), None);
        self.audit
            .record(
                AuditKind::RoleGranted,
                Outcome::Success,
                Some(user.id),
                &cli,
            )
            .await;
        tracing::info!(user_id = %user.id, role, "role granted");
        Ok(user)
    }
}
