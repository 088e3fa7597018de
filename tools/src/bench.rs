//! `hersys-tools bench`: load tools that drive a real gateway the way its
//! users do and print what they measured. The gateway they start is the
//! `hersys` binary next to `hersys-tools` (the same target directory), or
//! the one `HERSYS_BIN` names.

pub mod fixture;
pub mod import;
pub mod load;
pub mod statistics;
pub mod subscriptions;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A gateway process started by a benchmark, so that the benchmark can read
/// its memory and kill and restart it.
pub struct Server {
    child: Child,
    pub addr: String,
    database_url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `hersys serve` (see `gateway_binary`) on a free port.
    pub async fn start(database_url: &str, log: PathBuf) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let mut server =
            Server { child: spawn(database_url, &addr, &log)?, addr, database_url: database_url.to_owned(), log };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let url = format!("http://{}/readyz", self.addr);
        for _ in 0..200 {
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the gateway exited with {status}; see {}", self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the gateway did not become ready; see {}", self.log.display())
    }

    /// SIGKILL, then start again on the same address.
    pub async fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = spawn(&self.database_url, &self.addr, &self.log)?;
        self.wait_ready().await
    }

    /// The gateway's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the gateway process, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        rss_of(self.child.id())
    }
}

/// Resident memory of the process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway binary the benchmarks start: `HERSYS_BIN`, or else `hersys`
/// in the directory of this binary (`cargo build --release --workspace`
/// builds both there).
fn gateway_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("HERSYS_BIN") {
        return Ok(PathBuf::from(path));
    }
    let binary = std::env::current_exe()?.with_file_name(format!("hersys{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        binary.is_file(),
        "no gateway binary at {}: build it with `cargo build --release --workspace`, or name one in HERSYS_BIN",
        binary.display()
    );
    Ok(binary)
}

fn spawn(database_url: &str, addr: &str, log: &PathBuf) -> anyhow::Result<Child> {
    let binary = gateway_binary()?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Ok(Command::new(binary)
        .args(["serve", "--addr", addr])
        .env("DATABASE_URL", database_url)
        // The benchmarks' own variable is no setting of the gateway, which
        // refuses variables it does not know.
        .env_remove("HERSYS_BIN")
        // The benchmarks are one client at many times any real client's
        // rate: the per-address and per-account limits would measure
        // themselves.
        .env("HERSYS_RATE_LIMIT_ADDRESS", "0")
        .env("HERSYS_RATE_LIMIT_ACCOUNT", "0")
        // Each bench health centre's one account holds many subscribers.
        .env("HERSYS_MAX_SOCKETS_PER_ACCOUNT", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

/// Percentiles of a latency histogram in milliseconds.
pub fn describe(histogram: &hdrhistogram::Histogram<u64>) -> String {
    if histogram.is_empty() {
        return "no samples".to_owned();
    }
    let ms = |micros: u64| micros as f64 / 1000.0;
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(histogram.value_at_quantile(0.5)),
        ms(histogram.value_at_quantile(0.99)),
        ms(histogram.max())
    )
}
