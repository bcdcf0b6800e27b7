//! Who is asking: recorded on sessions and in the audit trail.

use std::net::IpAddr;

/// Who is asking: recorded on the session, shown in the session list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip: Option<IpAddr>,
}

impl ClientInfo {
    const USER_AGENT_MAX: usize = 512;

    pub fn new(user_agent: Option<&str>, ip: Option<IpAddr>) -> Self {
        let user_agent = user_agent.map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(Self::USER_AGENT_MAX)
                .collect()
        });
        Self { user_agent, ip }
    }
}
