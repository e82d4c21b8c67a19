//! What each command does: the connection and the component it needs, the
//! dispatch, and each command's body (`demo` is in [`crate::demo`]).

use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Value, json};

use gladly_harness::agents::*;
use gladly_harness::{Connection, Harness, Limits, output};
use gladly_sandbox::{Profile, RateLimit, Sandbox, SandboxConfig, TlsCert, Window};

use crate::args::{Cli, Command, ProfileArg, SandboxArgs, ScimArgs, WindowArg};
use crate::demo::demo;
use crate::{EXIT_DOMAIN, reconcile};

pub fn component_bytes(cli: &Cli) -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
    Ok(match &cli.component {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the component at {}", path.display()))?
            .into(),
        None => gladly_harness::EMBEDDED_COMPONENT.into(),
    })
}

/// Where compiled code is cached, unless `--no-cache`.
fn cache_dir(cli: &Cli) -> Option<std::path::PathBuf> {
    if cli.no_cache {
        None
    } else {
        cli.cache_dir
            .clone()
            .or_else(gladly_harness::cache::default_dir)
    }
}

fn load(cli: &Cli) -> anyhow::Result<Harness> {
    let bytes = component_bytes(cli)?;
    let mut harness = Harness::load(&bytes, cache_dir(cli).as_deref())?;
    if let Some(share) = cli.rate_share {
        harness = harness.with_limits(Limits {
            rate_share: Some(share.into()),
            ..Limits::default()
        });
    }
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
            eprintln!("{}", output::error_line(&e));
            ExitCode::from(EXIT_DOMAIN)
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pretty = cli.pretty;
    match &cli.command {
        Command::Sandbox(args) => return serve_sandbox(args).await,
        Command::Scim(args) => return serve_scim(&cli, args).await,
        Command::Demo => return demo(load(&cli)?, cache_dir(&cli).as_deref()).await,
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
        Command::Sandbox(_) | Command::Scim(_) | Command::Demo | Command::Wit => {
            unreachable!("handled above")
        }
    })
}

async fn serve_scim(cli: &Cli, a: &ScimArgs) -> anyhow::Result<ExitCode> {
    use gladly_harness::scim::{EMBEDDED_SCIM_COMPONENT, Gateway};
    if let Some(path) = &a.emit_component {
        std::fs::write(path, EMBEDDED_SCIM_COMPONENT)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote the SCIM gateway (composed with the connector) to {}",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let scim_token = a
        .scim_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no SCIM token given: set GLADLY_SCIM_TOKEN (or pass --scim-token) to the bearer token the IdP will send"
            )
        })?
        .to_string();
    // A short token is guessable, and would be scrubbed out of ordinary
    // answers wherever its characters happen to occur (the gateway itself
    // refuses to answer with one).
    if scim_token.chars().count() < gladly_scim::MIN_TOKEN_CHARS {
        anyhow::bail!(
            "GLADLY_SCIM_TOKEN is too short: use at least {} random characters (e.g. `openssl rand -hex 24`)",
            gladly_scim::MIN_TOKEN_CHARS
        );
    }
    let conn = connection(cli)?;
    let mut gateway = Gateway::load(
        EMBEDDED_SCIM_COMPONENT,
        cache_dir(cli).as_deref(),
        conn,
        scim_token,
    )?;
    if let Some(share) = cli.rate_share {
        gateway = gateway.with_rate_share(share.into());
    }
    if let Some(path) = &cli.ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        gateway = gateway.with_extra_ca(&pem)?;
    }
    let port = a.port.unwrap_or(0);
    let (addr, server) = gateway
        .bind(std::net::SocketAddr::new(a.host, port))
        .await?;
    println!(
        "SCIM 2.0 gateway for {} at http://{addr}{}",
        output::org_shown(cli.org_url.as_deref().unwrap_or_default()),
        gladly_scim::BASE_PATH
    );
    if !a.host.is_loopback() {
        println!(
            "  plain HTTP on {}: put a TLS-terminating proxy in front before an IdP sends its token here",
            a.host
        );
    }
    println!("Press Ctrl-C to stop.");
    tokio::select! {
        r = server => r??,
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_sandbox(a: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let profile = match a.profile {
        ProfileArg::Lifecycle => Profile::Lifecycle,
        ProfileArg::PublicSpec => Profile::PublicSpec,
    };
    let rate_limit = (!a.no_rate_limit).then_some(RateLimit {
        per_second: a.rate_limit,
        retry_after: a.retry_after,
        window: match a.window {
            WindowArg::Sliding => Window::Sliding,
            WindowArg::Fixed => Window::Fixed,
        },
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
            "  rate limit: {} requests per second and method ({:?} window){}",
            l.per_second,
            l.window,
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
    // The handler is registered on the future's first poll: polled once
    // before the line that invites Ctrl-C, so that one pressed (or sent)
    // right after it is caught, not the end of the process without the
    // list below.
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    let stopped = tokio::select! {
        biased;
        r = &mut stop => { r?; true }
        () = std::future::ready(()) => false,
    };
    println!("Press Ctrl-C to stop.");
    if !stopped {
        stop.await?;
    }
    let emails = sandbox.welcome_emails();
    println!("Stopped. {} welcome e-mail(s) were sent:", emails.len());
    // Addresses as local clients wrote them (the sandbox takes any with an
    // `@`): an escape sequence in one is shown, never acted on.
    for e in emails {
        println!(
            "  to {} (agent {})",
            output::printable(&e.to),
            output::printable(&e.agent_id)
        );
    }
    Ok(ExitCode::SUCCESS)
}
