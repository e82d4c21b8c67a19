//! The activity adapter: each export reads the connection from the
//! environment, calls the connector's import of the same name and reshapes
//! its error for Obelisk's retry rules. Nothing else.
#![allow(unsafe_code)] // wit-bindgen's generated glue

wit_bindgen::generate!({
    world: "activity",
    path: "wit",
    generate_all,
});

use exports::gladly::obelisk::{agents, roster, types::Error};
use gladly::provisioning::agents as connector;
use gladly::provisioning::roster as connector_roster;

struct Adapter;
export!(Adapter);

/// Environment variables the deployment sets for the activity.
const ORG_URL: &str = "GLADLY_ORG_URL";
const API_USER: &str = "GLADLY_API_USER";
/// Holds the placeholder Obelisk hands out for the secret; the engine puts
/// `base64(api-user:token)` in its place on requests to the org's host.
const CREDENTIAL: &str = "GLADLY_CREDENTIAL";

/// The connection, from the environment; the token is never in it.
fn connection() -> Result<connector::Connection, Error> {
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                Error::PermanentInvalidInput(connector::InvalidInputInfo {
                    field: format!("env.{name}"),
                    message: format!(
                        "is not set: the deployment must give the activity {name} (see the README, \"On Obelisk\")"
                    ),
                })
            })
    };
    Ok(connector::Connection {
        org_url: var(ORG_URL)?,
        api_user: var(API_USER)?,
        credential: connector::Credential::HostCompleted(var(CREDENTIAL)?),
    })
}

/// Which connector errors another attempt may cure.
fn reshape(e: connector::Error) -> Error {
    use connector::Error as C;
    match e {
        C::Unauthorized(m) => Error::PermanentUnauthorized(m),
        C::Forbidden(m) => Error::PermanentForbidden(m),
        C::NotFound(m) => Error::PermanentNotFound(m),
        C::Conflict(c) => Error::PermanentConflict(c),
        C::InvalidInput(i) => Error::PermanentInvalidInput(i),
        C::Unsupported(m) => Error::PermanentUnsupported(m),
        C::RateLimited(r) => Error::RateLimited(r),
        C::Upstream(u) if u.status >= 500 => Error::Upstream(u),
        C::Upstream(u) => Error::PermanentUpstream(u),
        C::Transport(m) => Error::Transport(m),
    }
}

/// Calls `f` with the connection and reshapes its error.
fn with<T>(
    f: impl FnOnce(&connector::Connection) -> Result<T, connector::Error>,
) -> Result<T, Error> {
    f(&connection()?).map_err(reshape)
}

impl agents::Guest for Adapter {
    fn provision(
        agent: agents::NewAgent,
        options: agents::WriteOptions,
    ) -> Result<agents::WriteResult, Error> {
        with(|c| connector::provision(c, &agent, options))
    }

    fn update(
        key: agents::AgentKey,
        changes: agents::AgentChanges,
        options: agents::WriteOptions,
    ) -> Result<agents::WriteResult, Error> {
        with(|c| connector::update(c, &key, &changes, options))
    }

    fn offboard(
        key: agents::AgentKey,
        options: agents::WriteOptions,
    ) -> Result<agents::WriteResult, Error> {
        with(|c| connector::offboard(c, &key, options))
    }

    fn lookup(key: agents::AgentKey) -> Result<Option<agents::Agent>, Error> {
        with(|c| connector::lookup(c, &key))
    }

    fn list_agents(active_only: bool) -> Result<Vec<agents::Agent>, Error> {
        with(|c| connector::list_agents(c, active_only))
    }

    fn list_teams() -> Result<Vec<agents::Team>, Error> {
        with(connector::list_teams)
    }

    fn list_inboxes() -> Result<Vec<agents::Inbox>, Error> {
        with(connector::list_inboxes)
    }

    fn get_availability(agent_id: String) -> Result<agents::Availability, Error> {
        with(|c| connector::get_availability(c, &agent_id))
    }

    fn check_connection() -> Result<agents::ConnectionInfo, Error> {
        with(connector::check_connection)
    }
}

impl roster::Guest for Adapter {
    fn plan(
        desired: Vec<roster::DesiredAgent>,
        options: roster::PlanOptions,
    ) -> Result<roster::RosterPlan, Error> {
        with(|c| connector_roster::plan(c, &desired, &options))
    }

    fn apply_change(
        change: roster::Change,
        options: roster::ApplyOptions,
    ) -> Result<roster::ChangeResult, Error> {
        with(|c| connector_roster::apply_change(c, &change, options))
    }
}
