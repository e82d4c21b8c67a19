//! The command line's arguments (clap), and what they mean as the
//! connector's inputs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use gladly_harness::agents::*;

use crate::reconcile;

#[derive(Parser)]
#[command(
    name = "gladly-harness",
    version,
    about = "Call the Gladly provisioning connector (a WebAssembly component) through wasmtime"
)]
pub struct Cli {
    /// Load this component instead of the release build embedded in the harness.
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Where compiled code is cached [default: $GLADLY_HARNESS_CACHE_DIR, else ~/.cache/gladly-harness].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component afresh and cache nothing.
    #[arg(long, global = true, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Pretty-print JSON.
    #[arg(long, global = true)]
    pub pretty: bool,
    /// Organisation URL, e.g. https://acme.gladly.com.
    #[arg(long, global = true, env = "GLADLY_ORG_URL", hide_env_values = true)]
    pub org_url: Option<String>,
    /// API user (the API user's email, or token id).
    #[arg(long, global = true, env = "GLADLY_API_USER")]
    pub api_user: Option<String>,
    /// API token. Prefer the environment variable to keep it out of shell history.
    #[arg(
        long,
        global = true,
        env = "GLADLY_API_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub api_token: Option<String>,
    /// Trust the CA certificate(s) in this PEM file beside the system's roots
    /// (a private CA, or the one `sandbox --tls --ca-out` writes).
    #[arg(long, global = true, env = "GLADLY_CA_FILE", value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Send at most this many requests a second per method to Gladly, for all
    /// calls together: this instance's fixed share of the organisation's
    /// limit when several share it [default: the limit Gladly declares].
    #[arg(long, global = true, env = "GLADLY_RATE_SHARE", value_name = "PER_SECOND",
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rate_share: Option<u16>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create an agent (idempotent by e-mail).
    Provision(ProvisionArgs),
    /// Change an agent's role, inboxes, teams or profile.
    Update(UpdateArgs),
    /// Deactivate an agent.
    Offboard {
        #[command(flatten)]
        key: KeyArgs,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Find one agent; prints null when there is none.
    Lookup {
        #[command(flatten)]
        key: KeyArgs,
    },
    /// List every agent, walking all pages.
    ListAgents {
        /// Leave out deactivated agents.
        #[arg(long)]
        active_only: bool,
    },
    /// List every team.
    ListTeams,
    /// List every inbox.
    ListInboxes,
    /// An agent's current availability.
    GetAvailability {
        /// Agent id.
        #[arg(long)]
        id: String,
    },
    /// Check the URL and credentials, and which shape of Gladly's API answers.
    CheckConnection,
    /// Plan what makes Gladly match a roster file; sends no write.
    Plan(reconcile::PlanCommand),
    /// Apply a plan written by `plan --out`, change by change.
    Apply(reconcile::ApplyCommand),
    /// Plan, show the plan, and apply it with --yes.
    Reconcile(reconcile::ReconcileCommand),
    /// Run a Gladly sandbox in the foreground (Ctrl-C stops it).
    Sandbox(SandboxArgs),
    /// Serve the SCIM 2.0 gateway at http://HOST:PORT/scim/v2 for an IdP
    /// (Okta, Entra ID, OneLogin, JumpCloud), in front of the organisation
    /// GLADLY_ORG_URL names.
    Scim(ScimArgs),
    /// Start a sandbox and walk a whole agent lifecycle through the component.
    Demo,
    /// Print the WIT the component carries (as `wasm-tools component wit` would).
    Wit,
}

#[derive(Args)]
pub struct ScimArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, required_unless_present = "emit_component")]
    pub port: Option<u16>,
    /// Address to listen on. Plain HTTP: anything but loopback belongs
    /// behind a TLS-terminating proxy.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// The bearer token SCIM clients must send. Prefer the environment
    /// variable.
    #[arg(
        long,
        env = "GLADLY_SCIM_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub scim_token: Option<String>,
    /// Write the gateway composed with the connector (for `wasmtime serve`
    /// or another wasi:http host) to this file, and exit.
    #[arg(long, value_name = "PATH")]
    pub emit_component: Option<PathBuf>,
}

#[derive(Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Which API to imitate.
    #[arg(long, value_enum, default_value_t = ProfileArg::Lifecycle)]
    pub profile: ProfileArg,
    /// Extra agents beside the seed data, to make lists span pages.
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
    /// Requests per second and method before 429 (Gladly publishes 10); at
    /// least 1 (`--no-rate-limit` lifts it).
    #[arg(long, default_value_t = 10, conflicts_with = "no_rate_limit",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// Send `Retry-After` with a 429 (Gladly's spec does not promise it).
    #[arg(long)]
    pub retry_after: bool,
    /// How the second is counted: the last second at every request
    /// (sliding), or each whole second, reset at its turn (fixed). Gladly
    /// does not say which it does.
    #[arg(long, value_enum, default_value_t = WindowArg::Sliding)]
    pub window: WindowArg,
    /// Lift the rate limit.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// Accept chunked request bodies (by default a write without
    /// Content-Length is answered 411, as strict front ends do).
    #[arg(long)]
    pub allow_chunked: bool,
    /// Serve HTTPS with a certificate made at start.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the CA that signed the certificate here, for --ca-file.
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// Wait this long before serving each new connection (a TLS handshake
    /// across the internet), e.g. 50ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub connection_delay: std::time::Duration,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WindowArg {
    Sliding,
    Fixed,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    /// The integration guide's lifecycle contract.
    Lifecycle,
    /// Gladly's public spec: read-only agents.
    PublicSpec,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Agent,
    TeamLead,
    Admin,
    Analyst,
    Task,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Agent => Role::Agent,
            RoleArg::TeamLead => Role::TeamLead,
            RoleArg::Admin => Role::Admin,
            RoleArg::Analyst => Role::Analyst,
            RoleArg::Task => Role::Task,
        }
    }
}

/// The agent, by exactly one of id, e-mail or external id.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct KeyArgs {
    /// Agent id.
    #[arg(long)]
    pub id: Option<String>,
    /// Agent e-mail (case-insensitive).
    #[arg(long)]
    pub email: Option<String>,
    /// Agent external id.
    #[arg(long)]
    pub external_id: Option<String>,
}

impl KeyArgs {
    pub fn key(&self) -> AgentKey {
        match (&self.id, &self.email, &self.external_id) {
            (Some(id), _, _) => AgentKey::Id(id.clone()),
            (_, Some(e), _) => AgentKey::Email(e.clone()),
            (_, _, Some(x)) => AgentKey::ExternalId(x.clone()),
            _ => unreachable!("clap requires one key"),
        }
    }
}

#[derive(Args)]
pub struct WriteArgs {
    /// Do the reads and resolution, print the requests that would be sent, send none.
    #[arg(long)]
    pub dry_run: bool,
    /// Attempts per request before giving up (default 5).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Total milliseconds the call may wait between retries (default 30000).
    #[arg(long)]
    pub max_wait_ms: Option<u64>,
}

impl WriteArgs {
    pub fn options(&self, no_reactivate: bool) -> WriteOptions {
        let retry =
            (self.max_attempts.is_some() || self.max_wait_ms.is_some()).then(|| RetryPolicy {
                max_attempts: self.max_attempts.unwrap_or(5),
                max_total_wait_ms: self.max_wait_ms.unwrap_or(30_000),
            });
        WriteOptions {
            dry_run: self.dry_run,
            no_reactivate,
            retry,
        }
    }
}

#[derive(Args)]
pub struct ProfileFields {
    /// Profile biography.
    #[arg(long)]
    pub bio: Option<String>,
    /// Profile avatar URL.
    #[arg(long)]
    pub avatar_url: Option<String>,
}

impl ProfileFields {
    pub fn profile(&self) -> Option<AgentProfile> {
        (self.bio.is_some() || self.avatar_url.is_some()).then(|| AgentProfile {
            bio: self.bio.clone(),
            avatar_url: self.avatar_url.clone(),
        })
    }
}

#[derive(Args)]
pub struct ProvisionArgs {
    /// Login e-mail address.
    #[arg(long)]
    pub email: String,
    /// Full display name.
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, default_value_t = RoleArg::Agent)]
    pub role: RoleArg,
    /// Inbox id or name (repeatable).
    #[arg(long = "inbox")]
    pub inboxes: Vec<String>,
    /// Team id or name (repeatable).
    #[arg(long = "team")]
    pub teams: Vec<String>,
    #[arg(long)]
    pub external_id: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    /// BCP 47 language tag, e.g. en-US.
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFields,
    /// If the e-mail belongs to a deactivated agent, fail with a conflict instead of reactivating it.
    #[arg(long)]
    pub no_reactivate: bool,
    #[command(flatten)]
    pub write: WriteArgs,
}

#[derive(Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// New e-mail address.
    #[arg(long)]
    pub new_email: Option<String>,
    /// New external id.
    #[arg(long)]
    pub new_external_id: Option<String>,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
    /// The full set of inboxes, by id or name (repeatable); others are removed.
    #[arg(long = "inbox", conflicts_with_all = ["add_inboxes", "remove_inboxes"])]
    pub inboxes: Vec<String>,
    /// Add this inbox, keep the others (repeatable).
    #[arg(long = "add-inbox")]
    pub add_inboxes: Vec<String>,
    /// Remove this inbox, keep the others (repeatable).
    #[arg(long = "remove-inbox")]
    pub remove_inboxes: Vec<String>,
    /// The full set of teams, by id or name (repeatable); others are removed.
    #[arg(long = "team", conflicts_with_all = ["add_teams", "remove_teams"])]
    pub teams: Vec<String>,
    /// Add this team, keep the others (repeatable).
    #[arg(long = "add-team")]
    pub add_teams: Vec<String>,
    /// Remove this team, keep the others (repeatable).
    #[arg(long = "remove-team")]
    pub remove_teams: Vec<String>,
    /// Remove every inbox.
    #[arg(long, conflicts_with_all = ["inboxes", "add_inboxes", "remove_inboxes"])]
    pub no_inboxes: bool,
    /// Remove every team.
    #[arg(long, conflicts_with_all = ["teams", "add_teams", "remove_teams"])]
    pub no_teams: bool,
    #[arg(long)]
    pub phone: Option<String>,
    /// BCP 47 language tag.
    #[arg(long)]
    pub language: Option<String>,
    #[command(flatten)]
    pub profile: ProfileFields,
    #[command(flatten)]
    pub write: WriteArgs,
}

fn membership(
    set: &[String],
    clear: bool,
    add: &[String],
    remove: &[String],
) -> Option<MembershipChange> {
    if clear || !set.is_empty() {
        Some(MembershipChange::Set(set.to_vec()))
    } else if !add.is_empty() || !remove.is_empty() {
        Some(MembershipChange::Delta(MembershipDelta {
            add: add.to_vec(),
            remove: remove.to_vec(),
        }))
    } else {
        None
    }
}

impl UpdateArgs {
    pub fn changes(&self) -> AgentChanges {
        AgentChanges {
            email_address: self.new_email.clone(),
            name: self.name.clone(),
            role: self.role.map(Role::from),
            inboxes: membership(
                &self.inboxes,
                self.no_inboxes,
                &self.add_inboxes,
                &self.remove_inboxes,
            ),
            teams: membership(
                &self.teams,
                self.no_teams,
                &self.add_teams,
                &self.remove_teams,
            ),
            external_id: self.new_external_id.clone(),
            phone_number: self.phone.clone(),
            language: self.language.clone(),
            agent_profile: self.profile.profile(),
        }
    }
}
