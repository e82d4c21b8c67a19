//! `gladly-harness`: call the Gladly connector component from the command
//! line, run a Gladly sandbox, or watch a whole lifecycle in the demo.
//!
//! Exit codes: 0 success (a lookup that finds nothing prints `null`), 1 a
//! host failure (the component could not be loaded, trapped, or ran out of
//! time), 2 a usage error or a bad input file, 3 a domain error from the
//! connector (its case name and a sentence go to stderr); `apply` and
//! `reconcile` add 4 (some changes failed), 5 (stopped early) and 6
//! (refused); see `reconcile.rs`.

mod reconcile;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

use gladly_harness::agents::*;
use gladly_sandbox::{Profile, RateLimit, Sandbox, SandboxConfig, TlsCert};
use gladly_harness::{Connection, Harness, error_case, error_message, output};

const EXIT_HOST: u8 = 1;
const EXIT_DOMAIN: u8 = 3;

#[derive(Parser)]
#[command(
    name = "gladly-harness",
    version,
    about = "Call the Gladly provisioning connector (a WebAssembly component) through wasmtime"
)]
struct Cli {
    /// Load this component instead of the release build embedded in the harness.
    #[arg(long, global = true, value_name = "PATH")]
    component: Option<PathBuf>,
    /// Where compiled code is cached [default: $GLADLY_HARNESS_CACHE_DIR, else ~/.cache/gladly-harness].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the component afresh and cache nothing.
    #[arg(long, global = true, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Pretty-print JSON.
    #[arg(long, global = true)]
    pretty: bool,
    /// Organisation URL, e.g. https://acme.gladly.com.
    #[arg(long, global = true, env = "GLADLY_ORG_URL")]
    org_url: Option<String>,
    /// API user (the API user's email, or token id).
    #[arg(long, global = true, env = "GLADLY_API_USER")]
    api_user: Option<String>,
    /// API token. Prefer the environment variable to keep it out of shell history.
    #[arg(long, global = true, env = "GLADLY_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Trust the CA certificate(s) in this PEM file beside the system's roots
    /// (a private CA, or the one `sandbox --tls --ca-out` writes).
    #[arg(long, global = true, env = "GLADLY_CA_FILE", value_name = "PATH")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Start a sandbox and walk a whole agent lifecycle through the component.
    Demo,
    /// Print the WIT the component carries (as `wasm-tools component wit` would).
    Wit,
}

#[derive(Args)]
struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Which API to imitate.
    #[arg(long, value_enum, default_value_t = ProfileArg::Lifecycle)]
    profile: ProfileArg,
    /// Extra agents beside the seed data, to make lists span pages.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// Requests per second and method before 429 (Gladly publishes 10).
    #[arg(long, default_value_t = 10, conflicts_with = "no_rate_limit")]
    rate_limit: u32,
    /// Send `Retry-After` with a 429 (Gladly's spec does not promise it).
    #[arg(long)]
    retry_after: bool,
    /// Lift the rate limit.
    #[arg(long)]
    no_rate_limit: bool,
    /// Accept chunked request bodies (by default a write without
    /// Content-Length is answered 411, as strict front ends do).
    #[arg(long)]
    allow_chunked: bool,
    /// Serve HTTPS with a certificate made at start.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA that signed the certificate here, for --ca-file.
    #[arg(long, value_name = "PATH", requires = "tls")]
    ca_out: Option<PathBuf>,
    /// Wait this long before serving each new connection (a TLS handshake
    /// across the internet), e.g. 50ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    connection_delay: std::time::Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// The integration guide's lifecycle contract.
    Lifecycle,
    /// Gladly's public spec: read-only agents.
    PublicSpec,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
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
struct KeyArgs {
    /// Agent id.
    #[arg(long)]
    id: Option<String>,
    /// Agent e-mail (case-insensitive).
    #[arg(long)]
    email: Option<String>,
    /// Agent external id.
    #[arg(long)]
    external_id: Option<String>,
}

impl KeyArgs {
    fn key(&self) -> AgentKey {
        match (&self.id, &self.email, &self.external_id) {
            (Some(id), _, _) => AgentKey::Id(id.clone()),
            (_, Some(e), _) => AgentKey::Email(e.clone()),
            (_, _, Some(x)) => AgentKey::ExternalId(x.clone()),
            _ => unreachable!("clap requires one key"),
        }
    }
}

#[derive(Args)]
struct WriteArgs {
    /// Do the reads and resolution, print the requests that would be sent, send none.
    #[arg(long)]
    dry_run: bool,
    /// Attempts per request before giving up (default 5).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Total milliseconds the call may wait between retries (default 30000).
    #[arg(long)]
    max_wait_ms: Option<u64>,
}

impl WriteArgs {
    fn options(&self, no_reactivate: bool) -> WriteOptions {
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
struct ProfileFields {
    /// Profile biography.
    #[arg(long)]
    bio: Option<String>,
    /// Profile avatar URL.
    #[arg(long)]
    avatar_url: Option<String>,
}

impl ProfileFields {
    fn profile(&self) -> Option<AgentProfile> {
        (self.bio.is_some() || self.avatar_url.is_some()).then(|| AgentProfile {
            bio: self.bio.clone(),
            avatar_url: self.avatar_url.clone(),
        })
    }
}

#[derive(Args)]
struct ProvisionArgs {
    /// Login e-mail address.
    #[arg(long)]
    email: String,
    /// Full display name.
    #[arg(long)]
    name: String,
    #[arg(long, value_enum, default_value_t = RoleArg::Agent)]
    role: RoleArg,
    /// Inbox id or name (repeatable).
    #[arg(long = "inbox")]
    inboxes: Vec<String>,
    /// Team id or name (repeatable).
    #[arg(long = "team")]
    teams: Vec<String>,
    #[arg(long)]
    external_id: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    /// BCP 47 language tag, e.g. en-US.
    #[arg(long)]
    language: Option<String>,
    #[command(flatten)]
    profile: ProfileFields,
    /// If the e-mail belongs to a deactivated agent, fail with a conflict instead of reactivating it.
    #[arg(long)]
    no_reactivate: bool,
    #[command(flatten)]
    write: WriteArgs,
}

#[derive(Args)]
struct UpdateArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// New e-mail address.
    #[arg(long)]
    new_email: Option<String>,
    /// New external id.
    #[arg(long)]
    new_external_id: Option<String>,
    /// New display name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
    /// The full set of inboxes, by id or name (repeatable); others are removed.
    #[arg(long = "inbox", conflicts_with_all = ["add_inboxes", "remove_inboxes"])]
    inboxes: Vec<String>,
    /// Add this inbox, keep the others (repeatable).
    #[arg(long = "add-inbox")]
    add_inboxes: Vec<String>,
    /// Remove this inbox, keep the others (repeatable).
    #[arg(long = "remove-inbox")]
    remove_inboxes: Vec<String>,
    /// The full set of teams, by id or name (repeatable); others are removed.
    #[arg(long = "team", conflicts_with_all = ["add_teams", "remove_teams"])]
    teams: Vec<String>,
    /// Add this team, keep the others (repeatable).
    #[arg(long = "add-team")]
    add_teams: Vec<String>,
    /// Remove this team, keep the others (repeatable).
    #[arg(long = "remove-team")]
    remove_teams: Vec<String>,
    /// Remove every inbox.
    #[arg(long, conflicts_with_all = ["inboxes", "add_inboxes", "remove_inboxes"])]
    no_inboxes: bool,
    /// Remove every team.
    #[arg(long, conflicts_with_all = ["teams", "add_teams", "remove_teams"])]
    no_teams: bool,
    #[arg(long)]
    phone: Option<String>,
    /// BCP 47 language tag.
    #[arg(long)]
    language: Option<String>,
    #[command(flatten)]
    profile: ProfileFields,
    #[command(flatten)]
    write: WriteArgs,
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
    fn changes(&self) -> AgentChanges {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_HOST);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_HOST)
        }
    }
}

fn component_bytes(cli: &Cli) -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
    Ok(match &cli.component {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the component at {}", path.display()))?
            .into(),
        None => gladly_harness::EMBEDDED_COMPONENT.into(),
    })
}

fn load(cli: &Cli) -> anyhow::Result<Harness> {
    let bytes = component_bytes(cli)?;
    let cache = if cli.no_cache {
        None
    } else {
        cli.cache_dir
            .clone()
            .or_else(gladly_harness::cache::default_dir)
    };
    let harness = Harness::load(&bytes, cache.as_deref())?;
    match &cli.ca_file {
        Some(path) => harness.with_ca_file(path),
        None => Ok(harness),
    }
}

fn connection(cli: &Cli) -> anyhow::Result<Connection> {
    let missing =
        |flag: &str, var: &str| anyhow::anyhow!("no {flag} given: pass --{flag} or set {var}");
    Ok(Connection::new(
        cli.org_url
            .clone()
            .ok_or_else(|| missing("org-url", "GLADLY_ORG_URL"))?,
        cli.api_user
            .clone()
            .ok_or_else(|| missing("api-user", "GLADLY_API_USER"))?,
        cli.api_token
            .clone()
            .ok_or_else(|| missing("api-token", "GLADLY_API_TOKEN"))?,
    ))
}

/// Prints a domain answer: JSON on stdout, or the error's case on stderr.
fn emit<T>(pretty: bool, answer: Result<T, Error>, to_json: impl FnOnce(&T) -> Value) -> ExitCode {
    match answer {
        Ok(v) => {
            let v = to_json(&v);
            let text = if pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            };
            println!("{}", text.unwrap_or_else(|_| "null".into()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {}", error_case(&e), error_message(&e));
            ExitCode::from(EXIT_DOMAIN)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pretty = cli.pretty;
    match &cli.command {
        Command::Sandbox(args) => return serve_sandbox(args).await,
        Command::Demo => return demo(load(&cli)?).await,
        Command::Wit => {
            print!(
                "{}",
                gladly_harness::wit::component_wit(&component_bytes(&cli)?)?
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let harness = load(&cli)?;
    let conn = connection(&cli)?;
    Ok(match &cli.command {
        Command::Provision(a) => {
            let agent = NewAgent {
                email_address: a.email.clone(),
                name: a.name.clone(),
                role: a.role.into(),
                inboxes: a.inboxes.clone(),
                teams: a.teams.clone(),
                external_id: a.external_id.clone(),
                phone_number: a.phone.clone(),
                language: a.language.clone(),
                agent_profile: a.profile.profile(),
            };
            let r = harness
                .provision(&conn, &agent, &a.write.options(a.no_reactivate))
                .await?;
            emit(pretty, r, output::write_result)
        }
        Command::Update(a) => {
            let r = harness
                .update(&conn, &a.key.key(), &a.changes(), &a.write.options(false))
                .await?;
            emit(pretty, r, output::write_result)
        }
        Command::Offboard { key, write } => {
            let r = harness
                .offboard(&conn, &key.key(), &write.options(false))
                .await?;
            emit(pretty, r, output::write_result)
        }
        Command::Lookup { key } => {
            let r = harness.lookup(&conn, &key.key()).await?;
            emit(pretty, r, |a| a.as_ref().map_or(Value::Null, output::agent))
        }
        Command::ListAgents { active_only } => {
            let r = harness.list_agents(&conn, *active_only).await?;
            emit(pretty, r, |v| {
                json!(v.iter().map(output::agent).collect::<Vec<_>>())
            })
        }
        Command::ListTeams => {
            let r = harness.list_teams(&conn).await?;
            emit(pretty, r, |v| {
                json!(v.iter().map(output::team).collect::<Vec<_>>())
            })
        }
        Command::ListInboxes => {
            let r = harness.list_inboxes(&conn).await?;
            emit(pretty, r, |v| {
                json!(v.iter().map(output::inbox).collect::<Vec<_>>())
            })
        }
        Command::GetAvailability { id } => {
            let r = harness.get_availability(&conn, id).await?;
            emit(pretty, r, output::availability)
        }
        Command::CheckConnection => {
            let r = harness.check_connection(&conn).await?;
            emit(pretty, r, output::connection_info)
        }
        Command::Plan(c) => reconcile::plan(&harness, &conn, c).await?,
        Command::Apply(c) => reconcile::apply(&harness, &conn, c).await?,
        Command::Reconcile(c) => reconcile::reconcile(&harness, &conn, c).await?,
        Command::Sandbox(_) | Command::Demo | Command::Wit => unreachable!("handled above"),
    })
}

async fn serve_sandbox(a: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let profile = match a.profile {
        ProfileArg::Lifecycle => Profile::Lifecycle,
        ProfileArg::PublicSpec => Profile::PublicSpec,
    };
    let rate_limit = (!a.no_rate_limit).then_some(RateLimit {
        per_second: a.rate_limit,
        retry_after: a.retry_after,
    });
    let sandbox = Sandbox::start(SandboxConfig {
        profile,
        port: a.port,
        extra_agents: a.agents,
        rate_limit,
        allow_chunked: a.allow_chunked,
        tls: a.tls.then_some(TlsCert::Valid),
        connection_delay: a.connection_delay,
    })
    .await
    .with_context(|| format!("cannot listen on 127.0.0.1:{}", a.port))?;
    let admin = sandbox.admin();
    let member = sandbox.member();
    println!(
        "Gladly sandbox ({profile:?}) listening on {}",
        sandbox.url()
    );
    match rate_limit {
        Some(l) => println!(
            "  rate limit: {} requests per second and method{}",
            l.per_second,
            if l.retry_after {
                ", 429 with Retry-After"
            } else {
                ", 429 without Retry-After"
            }
        ),
        None => println!("  rate limit: none"),
    }
    if let (Some(pem), Some(path)) = (sandbox.ca_pem(), &a.ca_out) {
        std::fs::write(path, pem)
            .with_context(|| format!("cannot write the CA to {}", path.display()))?;
        println!(
            "  CA certificate written to {} (pass --ca-file {0})",
            path.display()
        );
    } else if let Some(pem) = sandbox.ca_pem() {
        println!("  CA certificate (save it and pass --ca-file, or use --ca-out):\n{pem}");
    }
    println!(
        "  administrator: GLADLY_ORG_URL={} GLADLY_API_USER={} GLADLY_API_TOKEN={}",
        admin.org_url, admin.api_user, admin.api_token
    );
    println!(
        "  non-admin:     GLADLY_API_USER={} GLADLY_API_TOKEN={}",
        member.api_user, member.api_token
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    let emails = sandbox.welcome_emails();
    println!("Stopped. {} welcome e-mail(s) were sent:", emails.len());
    for e in emails {
        println!("  to {} (agent {})", e.to, e.agent_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// Unwraps a domain answer in the demo, where every step is expected to work.
fn step<T>(what: &str, r: Result<T, Error>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{what} failed: {}: {}", error_case(&e), error_message(&e)))
}

fn describe(a: &Agent) -> String {
    format!(
        "{} <{}> id={} role={} active={} inboxes=[{}] teams=[{}]",
        a.name.as_deref().unwrap_or("?"),
        a.email_address,
        a.id,
        a.role
            .as_ref()
            .map(|r| output::role(r).to_string().replace('"', ""))
            .unwrap_or_else(|| "?".into()),
        a.active.map_or("?".into(), |b| b.to_string()),
        a.inboxes.as_deref().unwrap_or(&[]).join(", "),
        a.teams.as_deref().unwrap_or(&[]).join(", "),
    )
}

fn print_result(r: &WriteResult) {
    println!("   outcome: {}", output::outcome(r.outcome));
    if let Some(a) = &r.agent {
        println!("   agent:   {}", describe(a));
    }
    for req in &r.requests {
        println!(
            "   sent:    {} {} {}",
            req.method,
            req.path,
            req.body.as_deref().unwrap_or("")
        );
    }
    for w in &r.warnings {
        println!("   warning: {w}");
    }
}

async fn demo(harness: Harness) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let conn = Connection::from(sandbox.admin());
    let defaults = WriteOptions {
        dry_run: false,
        no_reactivate: false,
        retry: None,
    };
    println!(
        "Gladly sandbox started at {} (lifecycle contract).\n",
        sandbox.url()
    );

    println!("1. Check the connection");
    let info = step("check-connection", harness.check_connection(&conn).await?)?;
    println!("   {}\n", output::connection_info(&info));

    println!("2. Resolve inboxes and teams (Gladly has no look-up by name)");
    for i in step("list-inboxes", harness.list_inboxes(&conn).await?)? {
        println!("   inbox {:<12} {}", i.id, i.name.unwrap_or_default());
    }
    for t in step("list-teams", harness.list_teams(&conn).await?)? {
        println!("   team  {:<17} {}", t.id, t.name.unwrap_or_default());
    }

    println!(
        "\n3. Provision alex.rivera@acme.example as an agent in \"General Support\" and \"Tier 1 Support\" (by name)"
    );
    let new = NewAgent {
        email_address: "alex.rivera@acme.example".into(),
        name: "Alex Rivera".into(),
        role: Role::Agent,
        inboxes: vec!["General Support".into()],
        teams: vec!["Tier 1 Support".into()],
        external_id: Some("E-2042".into()),
        phone_number: None,
        language: Some("en-US".into()),
        agent_profile: None,
    };
    let created = step(
        "provision",
        harness.provision(&conn, &new, &defaults).await?,
    )?;
    print_result(&created);
    let id = created
        .agent
        .as_ref()
        .map(|a| a.id.clone())
        .context("provision returned no agent")?;

    println!("\n4. Provision the same person again (an automation retrying)");
    let again = step(
        "provision",
        harness.provision(&conn, &new, &defaults).await?,
    )?;
    print_result(&again);
    println!(
        "   welcome e-mails sent so far: {}",
        sandbox.welcome_emails().len()
    );

    println!("\n5. Promote to team lead and add the \"Billing\" inbox (the other inbox is kept)");
    let changes = AgentChanges {
        email_address: None,
        name: None,
        role: Some(Role::TeamLead),
        inboxes: Some(MembershipChange::Delta(MembershipDelta {
            add: vec!["Billing".into()],
            remove: vec![],
        })),
        teams: None,
        external_id: None,
        phone_number: None,
        language: None,
        agent_profile: None,
    };
    let updated = step(
        "update",
        harness
            .update(&conn, &AgentKey::Id(id.clone()), &changes, &defaults)
            .await?,
    )?;
    print_result(&updated);

    println!("\n6. Look up by e-mail, in other case: ALEX.RIVERA@ACME.EXAMPLE");
    let found = step(
        "lookup",
        harness
            .lookup(&conn, &AgentKey::Email("ALEX.RIVERA@ACME.EXAMPLE".into()))
            .await?,
    )?;
    println!("   {}", found.as_ref().map_or("not found".into(), describe));

    println!("\n7. Offboard by external id E-2042");
    let off = step(
        "offboard",
        harness
            .offboard(&conn, &AgentKey::ExternalId("E-2042".into()), &defaults)
            .await?,
    )?;
    print_result(&off);

    println!("\n8. Look up again by id");
    let after = step("lookup", harness.lookup(&conn, &AgentKey::Id(id)).await?)?;
    println!("   {}", after.as_ref().map_or("not found".into(), describe));

    reconcile::demo(&harness, &conn).await?;

    let requests = sandbox.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    let framed = requests
        .iter()
        .filter(|r| r.method != "GET" && r.framing.content_length.is_some())
        .count();
    println!(
        "\nThe sandbox received {} requests over {} connection(s) and sent {} welcome e-mail(s).",
        requests.len(),
        sandbox.connections(),
        sandbox.welcome_emails().len()
    );
    println!(
        "On the wire: {framed} of {writes} writes carried Content-Length; {} answered 411, {} answered 429 (limit: 10 requests per second per method). Done.",
        sandbox.answered(411),
        sandbox.answered(429)
    );
    Ok(ExitCode::SUCCESS)
}
