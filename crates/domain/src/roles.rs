//! Roles: what a user may do beyond their own account. Stored as rows, carried
//! by access tokens (`roles`), exposed by forward-auth. A change reaches every
//! instance at once (the cached user is invalidated) and the user's tokens at
//! their next refresh. Granting one from the command line is
//! `AuthService::grant_role` (`auth/roles.rs`).

/// The role that opens the admin API.
pub const ADMIN: &str = "admin";
