pub(crate) mod account;
pub(crate) mod auth;
pub(crate) mod gateway;
pub(crate) mod mfa;
pub(crate) mod oauth;
pub(crate) mod passkeys;
pub(crate) mod system;
pub(crate) mod users;
