//! What the Obelisk tests stand on: a private PostgreSQL on loopback, Obelisk
//! servers as child processes, and Obelisk's web API.

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{build_rogue_guest, run};

/// The Obelisk release this project is tested with.
pub const OBELISK_VERSION: &str = "0.38.3";

/// `$OBELISK`, else `obelisk` on `PATH`, if it is 0.38.3.
pub fn obelisk() -> Option<PathBuf> {
    let bin = std::env::var_os("OBELISK")
        .map(PathBuf::from)
        .unwrap_or_else(|| "obelisk".into());
    let out = Command::new(&bin).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(OBELISK_VERSION),
        "{} is Obelisk {version}; these tests need {OBELISK_VERSION}",
        bin.display()
    );
    Some(bin)
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Builds the activity and the workflow once per test run
/// (`obelisk/build.sh`); the directory holding them.
pub fn components() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new("bash")
                .arg(root().join("obelisk/build.sh"))
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .status()
                .expect("bash runs obelisk/build.sh");
            assert!(status.success(), "obelisk/build.sh failed");
            root().join("target/obelisk")
        })
        .clone()
}

/// The adapter composed with `tests/rogue-guest` in place of the connector
/// (the same `obelisk/activity.wac`): a component that reports everything
/// it can read. Built once per test run, beside the real activity.
pub fn rogue_activity() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = components().join("rogue_activity.wasm");
            let rogue = build_rogue_guest();
            let dep = |name: &str, path: PathBuf| format!("gladly:{name}={}", path.display());
            run(Command::new(std::env::var_os("WAC").unwrap_or_else(|| "wac".into()))
                .arg("compose")
                .arg(root().join("obelisk/activity.wac"))
                .arg("--dep")
                .arg(dep("connector", rogue))
                .arg("--dep")
                .arg(dep(
                    "adapter",
                    root().join("target/obelisk-build/wasm32-wasip2/release/gladly_obelisk_activity.wasm"),
                ))
                .arg("-o")
                .arg(&out));
            out
        })
        .clone()
}

/// A scratch directory for one test, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gladly-obelisk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A private PostgreSQL cluster on 127.0.0.1:5432 (Obelisk 0.38.3 has no
/// port setting), trusting local connections, stopped on drop.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
}

pub const PG_USER: &str = "obelisk";
pub const PG_DB: &str = "gladly_obelisk";

/// Held by a test for as long as it uses port 5432 (and its fixed API
/// ports): the tests of this module run one at a time.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Postgres {
    pub fn start(dir: &Path) -> Self {
        assert!(
            TcpStream::connect(("127.0.0.1", 5432)).is_err(),
            "something already listens on 127.0.0.1:5432; Obelisk 0.38.3 reaches PostgreSQL \
             only on that port, so this test starts its own there: stop the other server"
        );
        let bin = std::env::var_os("PG_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .expect("PostgreSQL is installed (Debian: apt-get install postgresql)")
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|b| b.join("pg_ctl").exists())
                    .collect();
                found.sort();
                found
                    .pop()
                    .expect("a PostgreSQL with pg_ctl under /usr/lib/postgresql")
            });
        // PostgreSQL refuses to run as root.
        let as_postgres = is_root();
        let pg = Self {
            bin,
            data: dir.join("pgdata"),
            as_postgres,
        };
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir));
        }
        run(pg.command("initdb").arg("-D").arg(&pg.data).args([
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ]));
        run(pg.command("pg_ctl").arg("-D").arg(&pg.data).arg("-l").arg(dir.join("postgres.log")).args([
            "-w",
            "-t",
            "60",
            "-o",
            &format!(
                "-p 5432 -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -k {}",
                dir.display()
            ),
            "start",
        ]));
        pg
    }

    fn command(&self, tool: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        }
    }

    /// Runs `sql` in Obelisk's database; its rows, one per line, `|` between
    /// columns.
    pub fn query(&self, sql: &str) -> String {
        self.client("psql", &["-d", PG_DB, "-At", "-c", sql])
    }

    /// The whole of Obelisk's database, as SQL.
    pub fn dump(&self) -> String {
        self.client("pg_dump", &[PG_DB])
    }

    /// A client tool, connected over loopback TCP as the Obelisk user; its
    /// stdout.
    fn client(&self, tool: &str, args: &[&str]) -> String {
        run(Command::new(self.bin.join(tool))
            .args(["-h", "127.0.0.1", "-p", "5432", "-U", PG_USER])
            .args(args))
    }

    /// Stops the server (at once: nothing of it needs to survive); again is
    /// harmless.
    pub fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shipped deployment file, made runnable from `dir`: component paths
/// absolute, and the lock expiry (the execution timeout after which another
/// node takes over) set to `lock_expiry_secs`.
pub fn deployment(dir: &Path, lock_expiry_secs: u32) -> PathBuf {
    let shipped = std::fs::read_to_string(root().join("obelisk/deployment.toml")).unwrap();
    let expiry = "exec.lock_expiry.seconds = 120";
    assert!(
        shipped.contains(expiry),
        "the shipped deployment sets {expiry}"
    );
    let text = shipped
        .replace(
            "${DEPLOYMENT_DIR}/../target/obelisk",
            &components().display().to_string(),
        )
        .replace(
            expiry,
            &format!("exec.lock_expiry.seconds = {lock_expiry_secs}"),
        );
    let path = dir.join("deployment.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sets the calls in flight of the deployment file at `path` (the shipped
/// one, made runnable) to `calls`: the engine's `exec.instance_limiter`
/// and the component's `GLADLY_CALLS_IN_FLIGHT` together, as the README
/// tells an operator to.
pub fn set_calls_in_flight(path: &Path, calls: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let (limiter, told) = (
        "exec.instance_limiter = 5",
        r#"{ key = "GLADLY_CALLS_IN_FLIGHT", value = "5" }"#,
    );
    assert!(
        text.contains(limiter) && text.contains(told),
        "the shipped deployment runs 5 calls in flight"
    );
    let text = text
        .replace(limiter, &format!("exec.instance_limiter = {calls}"))
        .replace(
            told,
            &format!(r#"{{ key = "GLADLY_CALLS_IN_FLIGHT", value = "{calls}" }}"#),
        );
    std::fs::write(path, text).unwrap();
}

/// One Obelisk server, a child process; killed (SIGKILL) on drop.
pub struct Node {
    pub name: String,
    pub api: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    /// Starts `obelisk server run` with its own API port, caches and log,
    /// the shared database, no web UI and no external HTTP server;
    /// `deployment` makes it activate that file, else it serves the
    /// database's active deployment.
    pub fn start(
        obelisk: &Path,
        dir: &Path,
        name: &str,
        api_port: u16,
        deployment: Option<&Path>,
        env: &[(&str, String)],
    ) -> Self {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        // The shipped cluster configuration, with this node's API port, caches
        // and console log.
        let shipped = std::fs::read_to_string(root().join("obelisk/server-postgres.toml")).unwrap();
        let default_api = "api.listening_addr = \"127.0.0.1:5005\"";
        assert!(
            shipped.contains(default_api),
            "the shipped server-postgres.toml sets {default_api}"
        );
        let config = home.join("server.toml");
        std::fs::write(
            &config,
            format!(
                r#"{}
[wasm]
cache_directory = "{home}/wasm"

[wasm.codegen_cache]
directory = "{home}/codegen"

[log.console]
level = "info"
"#,
                shipped.replace(
                    default_api,
                    &format!("api.listening_addr = \"127.0.0.1:{api_port}\"")
                ),
                home = home.display()
            ),
        )
        .unwrap();
        let log = home.join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(obelisk);
        cmd.args(["server", "run", "--server-config"]).arg(&config);
        if let Some(d) = deployment {
            cmd.arg("--deployment").arg(d);
        }
        // The deployment's calls ask their own node's API (README, "Rate
        // limit on Obelisk"); a node on another port says so.
        cmd.env("GLADLY_OBELISK_API", format!("http://127.0.0.1:{api_port}"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("POSTGRES_HOST", "127.0.0.1")
            .env("POSTGRES_USER", PG_USER)
            .env("POSTGRES_PASSWORD", "unused-trust-auth")
            .env("POSTGRES_DATABASE", PG_DB)
            .env("HOME", &home)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = cmd.spawn().expect("obelisk starts");
        Self {
            name: name.into(),
            api: format!("http://127.0.0.1:{api_port}"),
            child: Some(child),
            log,
        }
    }

    /// Waits until the server answers on its API (it compiles the
    /// components first).
    pub fn wait_ready(&mut self, timeout: Duration) {
        let started = Instant::now();
        loop {
            if let Ok(r) = agent().get(format!("{}/v1/deployment-id", self.api)).call()
                && r.status() == 200
            {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "obelisk {} exited ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                started.elapsed() < timeout,
                "obelisk {} not ready in {timeout:?}:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// CPU time the server has used so far (Linux `/proc`), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(child) = &self.child else { return 0.0 };
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        // Fields after the command name, which ends with ')': utime, stime
        // are the 12th and 13th, in clock ticks (100 a second on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }

    /// `kill -9`: the node dies with whatever it holds.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Submits `ffqn(params...)`; the execution id.
    pub fn submit(&self, ffqn: &str, params: Value) -> String {
        let mut resp = agent()
            .post(format!("{}/v1/executions", self.api))
            .header("accept", "application/json")
            .send_json(json!({ "ffqn": ffqn, "params": params }))
            .unwrap_or_else(|e| panic!("submit {ffqn} to {}: {e}", self.name));
        let body: Value = resp.body_mut().read_json().unwrap();
        assert!(resp.status().is_success(), "submit {ffqn}: {body}");
        body["ok"]
            .as_str()
            .unwrap_or_else(|| panic!("submit {ffqn}: {body}"))
            .to_string()
    }

    /// The execution's return value once it finished; `None` before.
    pub fn result(&self, id: &str) -> Option<Value> {
        let mut resp = agent()
            .get(format!("{}/v1/executions/{id}", self.api))
            .header("accept", "application/json")
            .call()
            .unwrap_or_else(|e| panic!("result of {id} from {}: {e}", self.name));
        match resp.status().as_u16() {
            200 => Some(resp.body_mut().read_json().unwrap()),
            425 => None,
            other => panic!(
                "result of {id}: {other} {}",
                resp.body_mut().read_to_string().unwrap_or_default()
            ),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client that reports statuses instead of failing on them, its
/// connections kept for the next request.
fn agent() -> ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into()
        })
        .clone()
}

/// The machine's CPU time so far, busy and in all (Linux `/proc/stat`), in
/// clock ticks.
pub fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let all: u64 = ticks.iter().sum();
    // idle and iowait
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    (all - idle, all)
}
