pub(crate) mod auth;
pub(crate) mod system;
pub(crate) mod users;
