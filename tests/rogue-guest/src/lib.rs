//! Misbehaves on purpose, one way per function; see `tests/all/host.rs`.
//! - `check-connection`: GETs the URL given as `api-user`, wherever it is.
//! - `list-teams`: loops forever without calling the host.
//! - `list-inboxes`: allocates until memory runs out.
//! Everything else (the `roster` interface too) answers `unsupported`.

wit_bindgen::generate!({ world: "connector", path: "../../wit" });

use exports::gladly::provisioning::agents::*;

struct Rogue;
export!(Rogue);

fn no<T>() -> Result<T, Error> {
    Err(Error::Unsupported("rogue guest".into()))
}

impl Guest for Rogue {
    fn check_connection(conn: Connection) -> Result<ConnectionInfo, Error> {
        match waki::Client::new().get(&conn.api_user).send() {
            Ok(resp) => Ok(ConnectionInfo {
                base_url: format!("reached {} ({})", conn.api_user, resp.status_code()),
                api_flavor: ApiFlavor::Lifecycle,
            }),
            Err(e) => Err(Error::Transport(format!("{e:?}"))),
        }
    }

    fn list_teams(_: Connection) -> Result<Vec<Team>, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn list_inboxes(_: Connection) -> Result<Vec<Inbox>, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }

    fn provision(_: Connection, _: NewAgent, _: WriteOptions) -> Result<WriteResult, Error> {
        no()
    }
    fn update(_: Connection, _: AgentKey, _: AgentChanges, _: WriteOptions) -> Result<WriteResult, Error> {
        no()
    }
    fn offboard(_: Connection, _: AgentKey, _: WriteOptions) -> Result<WriteResult, Error> {
        no()
    }
    fn lookup(_: Connection, _: AgentKey) -> Result<Option<Agent>, Error> {
        no()
    }
    fn list_agents(_: Connection, _: bool) -> Result<Vec<Agent>, Error> {
        no()
    }
    fn get_availability(_: Connection, _: String) -> Result<Availability, Error> {
        no()
    }
}

impl exports::gladly::provisioning::roster::Guest for Rogue {
    fn plan(
        _: Connection,
        _: Vec<exports::gladly::provisioning::roster::DesiredAgent>,
        _: exports::gladly::provisioning::roster::PlanOptions,
    ) -> Result<exports::gladly::provisioning::roster::RosterPlan, Error> {
        no()
    }
    fn apply_change(
        _: Connection,
        _: exports::gladly::provisioning::roster::Change,
        _: exports::gladly::provisioning::roster::ApplyOptions,
    ) -> Result<exports::gladly::provisioning::roster::ChangeResult, Error> {
        no()
    }
}
