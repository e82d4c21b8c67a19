//! The host's scrubbing. When the host completes the credential, the
//! component never knows the token and can recognise an echo only by its
//! shape; the host knows it, so it scrubs everything a call returns (errors,
//! warnings, messages, planned requests, and the records themselves) of
//! every echo form of the token and of `api-user:token`.
//!
//! The algorithm is the core's (`gladly_connector::scrub`): one
//! implementation serves the component and the host.

pub use gladly_connector::scrub::Secrets;

use crate::agents::*;
use crate::roster::{Change, ChangeResult, PlanConflict, RosterPlan};

/// The secrets of a call whose credential the host completes.
pub(crate) fn secrets(api_user: &str, api_token: &str) -> Secrets {
    Secrets::new(api_user, api_token)
}

/// Everything a call returns, scrubbed in place. The host cannot tell the
/// component's words from a server's, so it scrubs as for words
/// ([`Secrets::scrub_words`]): every form of a real token wherever it is.
pub(crate) trait Scrub {
    fn scrub(&mut self, s: &Secrets);
}

impl Scrub for String {
    fn scrub(&mut self, s: &Secrets) {
        let clean = s.scrub_words(self);
        if clean != *self {
            *self = clean;
        }
    }
}

impl<T: Scrub> Scrub for Option<T> {
    fn scrub(&mut self, s: &Secrets) {
        if let Some(v) = self {
            v.scrub(s);
        }
    }
}

impl<T: Scrub> Scrub for Vec<T> {
    fn scrub(&mut self, s: &Secrets) {
        for v in self {
            v.scrub(s);
        }
    }
}

impl<T: Scrub, E: Scrub> Scrub for Result<T, E> {
    fn scrub(&mut self, s: &Secrets) {
        match self {
            Ok(v) => v.scrub(s),
            Err(e) => e.scrub(s),
        }
    }
}

/// Types that carry no text.
macro_rules! no_text {
    ($($t:ty),*) => {$(
        impl Scrub for $t {
            fn scrub(&mut self, _: &Secrets) {}
        }
    )*};
}
no_text!(bool, u32, u64, ApiFlavor, Outcome);

/// Records: each of their fields.
macro_rules! fields {
    ($($t:ty { $($f:ident),* })*) => {$(
        impl Scrub for $t {
            fn scrub(&mut self, s: &Secrets) {
                $(self.$f.scrub(s);)*
            }
        }
    )*};
}
fields! {
    Agent { id, email_address, name, role, agent_profile, inboxes, teams, phone_number,
            external_id, language, created_at, updated_at, agent_status }
    AgentProfile { bio, avatar_url }
    Team { id, name, description, agent_ids }
    Inbox { id, name, channel_type }
    Availability { agent_id, status, updated_at }
    ConnectionInfo { base_url }
    PlannedRequest { method, path, body }
    WriteResult { agent, requests, differences, warnings }
    ConflictInfo { message, agent_ids }
    RateLimitedInfo { message }
    InvalidInputInfo { field, message }
    UpstreamInfo { message, body_excerpt }
    RosterPlan { changes, conflicts, warnings }
    Change { email_address, reason, current, differences, requests }
    PlanConflict { email_address, message, agent_ids }
    ChangeResult { agent, requests, message, warnings }
}

impl Scrub for Role {
    fn scrub(&mut self, s: &Secrets) {
        if let Role::Other(v) = self {
            v.scrub(s);
        }
    }
}

impl Scrub for AgentStatus {
    fn scrub(&mut self, s: &Secrets) {
        if let AgentStatus::Other(v) = self {
            v.scrub(s);
        }
    }
}

impl Scrub for Error {
    fn scrub(&mut self, s: &Secrets) {
        match self {
            Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Unsupported(m)
            | Error::Transport(m) => m.scrub(s),
            Error::Conflict(c) => c.scrub(s),
            Error::RateLimited(r) => r.scrub(s),
            Error::InvalidInput(i) => i.scrub(s),
            Error::Upstream(u) => u.scrub(s),
        }
    }
}
