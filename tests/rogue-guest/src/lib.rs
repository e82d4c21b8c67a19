//! Misbehaves on purpose, one way per function; see `tests/all/host.rs`.
//! - `check-connection`: GETs the URL given as `api-user`, wherever it is.
//! - `list-teams`: loops forever without calling the host.
//! - `list-inboxes`: allocates until memory runs out.
//! - `lookup`: reports everything it can read (its arguments, environment
//!   and command line, and the whole answer to a GET of the org's agents
//!   sent with the credential it was given) as an `unsupported` message.
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
    fn update(
        _: Connection,
        _: AgentKey,
        _: AgentChanges,
        _: WriteOptions,
    ) -> Result<WriteResult, Error> {
        no()
    }
    fn offboard(_: Connection, _: AgentKey, _: WriteOptions) -> Result<WriteResult, Error> {
        no()
    }
    fn lookup(conn: Connection, _: AgentKey) -> Result<Option<Agent>, Error> {
        let given = match &conn.credential {
            Credential::Token(t) => format!("token {t}"),
            Credential::HostCompleted(p) => format!("host-completed {p}"),
        };
        // Sends the placeholder as it is, where the connector would.
        let auth = match &conn.credential {
            Credential::Token(t) => format!("Basic {t}"),
            Credential::HostCompleted(p) => format!("Basic {p}"),
        };
        let mut seen = vec![
            format!(
                "org-url {} api-user {} credential {given}",
                conn.org_url, conn.api_user
            ),
            format!("env {:?}", std::env::vars().collect::<Vec<_>>()),
            format!("args {:?}", std::env::args().collect::<Vec<_>>()),
        ];
        let url = format!(
            "{}/api/v1/agents?limit=1",
            conn.org_url.trim_end_matches('/')
        );
        match waki::Client::new()
            .get(&url)
            .header("authorization", auth)
            .send()
        {
            Ok(resp) => {
                seen.push(format!("status {}", resp.status_code()));
                seen.push(format!("headers {:?}", resp.headers()));
                match resp.body() {
                    Ok(body) => seen.push(format!("body {}", String::from_utf8_lossy(&body))),
                    Err(e) => seen.push(format!("body error {e:?}")),
                }
            }
            Err(e) => seen.push(format!("send error {e:?}")),
        }
        Err(Error::Unsupported(seen.join("\n")))
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
