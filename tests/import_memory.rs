//! The import of a CSV file of 1 GiB, streamed to the real `hersys` binary
//! run as a child process: the server reads the file as it arrives, one
//! record at a time, and keeps its memory flat ("the import of a 1 GB file
//! keeps the server's memory under 200 MiB"). The file is generated chunk
//! by chunk while it is sent, so the test never holds it whole either.
//!
//! Most rows are refused by their values alone (a name of thousands of
//! characters, an unknown sex), without a query; a few are longer than a
//! record may be; every few thousandth is a good row, which is written.
//! The server's resident memory is sampled from `/proc` while the upload
//! runs, and its peak (`VmHWM`) read at the end.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The size of the file: it ends with the first row that reaches it.
const FILE_BYTES: u64 = 1 << 30;

/// The bound of the issue: the server's resident memory at its peak.
const MEMORY_LIMIT_BYTES: u64 = 200 << 20;

/// Every this many rows, one is good (and written).
const VALID_EVERY: u64 = 5_000;

/// Every this many rows, one is longer than a record may be (16 KiB): the
/// row of index `OVERLONG_AT` (line 102, among the refusals listed), and
/// every `OVERLONG_EVERY` rows after it.
const OVERLONG_EVERY: u64 = 1_000;
const OVERLONG_AT: u64 = 100;

/// How much the generator hands to the client at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// Refusals a report lists at most (`services::import::MAX_LISTED`).
const MAX_LISTED: usize = 1_000;

const HEADER: &str = "specimen_id,name_kanji,name_kana,sex,birth_date,phone,test_kind,result,sampled_at\n";

/// Padding of names, in a character of three bytes in UTF-8.
const PAD: char = '試';

/// The demo password (demo data set only).
const DEMO_PASSWORD: &str = "hersys-demo-2026";

/// What a row of the file is, from its index (0 for line 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A good row: a new person and a negative test.
    Valid,
    /// A row of 8 to 15 KiB refused for its values: a name over 100
    /// characters and an unknown sex.
    Invalid,
    /// A row of 20 KiB, over the 16 KiB a record may be.
    Overlong,
}

fn kind(index: u64) -> Kind {
    if index % VALID_EVERY == VALID_EVERY - 1 {
        Kind::Valid
    } else if index % OVERLONG_EVERY == OVERLONG_AT {
        Kind::Overlong
    } else {
        Kind::Invalid
    }
}

/// The characters of padding of an invalid row: 8 to 15 KiB, varying.
fn padding_chars(index: u64) -> usize {
    let bytes = 8 * 1024 + (index.wrapping_mul(7_919) % (7 * 1024)) as usize;
    bytes / PAD.len_utf8()
}

/// What the generator has sent so far.
#[derive(Debug, Default)]
struct Sent {
    bytes: AtomicU64,
    rows: AtomicU64,
    valid: AtomicU64,
    overlong: AtomicU64,
}

/// The file, generated chunk by chunk as the client asks for it.
struct CsvFile {
    /// The longest padding (of an overlong row); rows take a prefix.
    padding: String,
    /// Yesterday in Japan time, `YYYY-MM-DD`.
    yesterday: String,
    next_row: u64,
    bytes: u64,
    sent: Arc<Sent>,
}

impl CsvFile {
    fn new(sent: Arc<Sent>) -> CsvFile {
        let japan = chrono::FixedOffset::east_opt(9 * 3600).expect("the offset of Japan time");
        let yesterday = (chrono::Utc::now().with_timezone(&japan) - chrono::Duration::days(1)).date_naive();
        CsvFile {
            padding: std::iter::repeat_n(PAD, 20 * 1024 / PAD.len_utf8()).collect(),
            yesterday: yesterday.format("%Y-%m-%d").to_string(),
            next_row: 0,
            bytes: 0,
            sent,
        }
    }

    fn row(&mut self, out: &mut Vec<u8>) {
        let index = self.next_row;
        self.next_row += 1;
        let sampled_at = &self.yesterday;
        let written = match kind(index) {
            Kind::Valid => {
                // A birth date of its own for each: nobody is likely the
                // same as anyone else of the file.
                let born = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).expect("a date")
                    + chrono::Duration::days((index / VALID_EVERY) as i64);
                self.sent.valid.fetch_add(1, Ordering::Relaxed);
                writeln!(out, "MEM-{index},記憶 試験,メモリ テスト,F,{born},,PCR,NEGATIVE,{sampled_at} 10:00")
            }
            Kind::Invalid => {
                let padding = &self.padding[..padding_chars(index) * PAD.len_utf8()];
                writeln!(out, "MEM-{index},{padding},メモリ テスト,X,1980-01-01,,PCR,NEGATIVE,{sampled_at} 10:00")
            }
            Kind::Overlong => {
                self.sent.overlong.fetch_add(1, Ordering::Relaxed);
                let padding = &self.padding;
                writeln!(out, "MEM-{index},{padding},メモリ テスト,F,1980-01-01,,PCR,NEGATIVE,{sampled_at} 10:00")
            }
        };
        written.expect("a row is written to memory");
        self.sent.rows.fetch_add(1, Ordering::Relaxed);
    }
}

impl Iterator for CsvFile {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes >= FILE_BYTES {
            return None;
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 32 * 1024);
        if self.bytes == 0 {
            chunk.extend_from_slice(HEADER.as_bytes());
        }
        while chunk.len() < CHUNK_BYTES && self.bytes + (chunk.len() as u64) < FILE_BYTES {
            self.row(&mut chunk);
        }
        self.bytes += chunk.len() as u64;
        self.sent.bytes.store(self.bytes, Ordering::Relaxed);
        Some(Ok(chunk))
    }
}

/// The lines of the first `count` rows refused, in order.
fn first_refused_lines(count: usize) -> Vec<u64> {
    (0..).filter(|&index| kind(index) != Kind::Valid).map(|index| index + 2).take(count).collect()
}

/// A figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let kib = line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim();
        kib.parse::<u64>().ok().map(|kib| kib * 1024)
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The gateway as a child process, killed when dropped.
struct Gateway {
    child: Child,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Gateway {
    /// `hersys serve --demo` in `dir` (its SQLite `hersys.db` there), with
    /// only `PATH` and `RUST_LOG` of the environment (the gateway refuses
    /// `HERSYS_…` variables it does not know), once `/readyz` answers 2xx.
    async fn start(dir: &Path) -> Gateway {
        let log = dir.join("gateway.log");
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .map(|addr| addr.port())
                .expect("a free port");
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("the log file");
            let mut command = Command::new(env!("CARGO_BIN_EXE_hersys"));
            command
                .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
                .current_dir(dir)
                .env_clear()
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(file);
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
            let child = command.spawn().expect("start `hersys serve`");
            let mut gateway = Gateway {
                child,
                base: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                client: reqwest::Client::new(),
            };
            let started = Instant::now();
            loop {
                let probe = gateway.client.get(gateway.url("/readyz")).timeout(Duration::from_secs(5)).send().await;
                if probe.is_ok_and(|response| response.status().is_success()) {
                    return gateway;
                }
                if let Some(status) = gateway.child.try_wait().expect("the child's status") {
                    if gateway.log().contains("cannot listen") {
                        break; // the port was taken meanwhile: another one
                    }
                    panic!("the gateway exited with {status}:\n{}", gateway.log());
                }
                assert!(started.elapsed() < Duration::from_secs(120), "not ready in 120 s:\n{}", gateway.log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("no free port for the gateway:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn login(&self, username: &str) -> String {
        let query =
            format!("mutation {{ login(username: \"{username}\", password: \"{DEMO_PASSWORD}\") {{ token }} }}");
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("login {username}: {e}"));
        let answer: Value = response.json().await.unwrap_or_else(|e| panic!("login {username}: not JSON: {e}"));
        answer["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {answer}")).to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("the gateway's log (last lines):");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

#[tokio::test]
async fn a_one_gigabyte_file_is_imported_with_flat_memory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let gateway = Gateway::start(dir.path()).await;
    assert!(dir.path().join("hersys.db").exists(), "the gateway's database is in the temporary directory");
    let token = gateway.login("clinic1").await;
    let pid = gateway.child.id();

    // The server's resident memory, every 100 ms while the upload runs.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut samples, mut highest) = (0u64, 0u64);
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                interval.tick().await;
                if let Some(rss) = proc_status_bytes(pid, "VmRSS") {
                    samples += 1;
                    highest = highest.max(rss);
                }
            }
            (samples, highest)
        })
    };
    let rss_before = proc_status_bytes(pid, "VmRSS").expect("the gateway's VmRSS");

    let sent = Arc::new(Sent::default());
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(CsvFile::new(sent.clone())));
    let started = Instant::now();
    let response = gateway
        .client
        .post(gateway.url("/import/csv"))
        .bearer_auth(&token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the import answered nothing: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("the report");
    let took = started.elapsed();

    stop.store(true, Ordering::Relaxed);
    let (samples, highest_rss) = sampler.await.expect("the sampler");
    let hwm = proc_status_bytes(pid, "VmHWM").expect("the gateway's VmHWM (it is still running)");
    let peak = hwm.max(highest_rss);
    // Of the resident memory at the end: the heap's, and the pages of the
    // binary (large in a debug build), for the record.
    let (anon, file) = (proc_status_bytes(pid, "RssAnon"), proc_status_bytes(pid, "RssFile"));

    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the report is not JSON ({e}): {text}"));
    let count = |key: &str| report[key].as_u64().unwrap_or_else(|| panic!("no count {key}: {report}"));
    let (bytes, rows, valid, overlong) = (
        sent.bytes.load(Ordering::Relaxed),
        sent.rows.load(Ordering::Relaxed),
        sent.valid.load(Ordering::Relaxed),
        sent.overlong.load(Ordering::Relaxed),
    );
    let errors = report["errors"].as_array().unwrap_or_else(|| panic!("no errors listed: {report}"));
    eprintln!(
        "import_memory: sent {bytes} bytes ({:.0} MiB, {rows} rows: {valid} good, {overlong} overlong) in {:.1} s \
         ({:.1} MiB/s); records {}, accepted {}, unchanged {}, refused {}, errors listed {} (+{} not listed); \
         server memory: {:.1} MiB before, peak {:.1} MiB (VmHWM {:.1} MiB, highest VmRSS of {samples} samples {:.1} \
         MiB); at the end RssAnon {:.1} MiB, RssFile {:.1} MiB",
        mib(bytes),
        took.as_secs_f64(),
        mib(bytes) / took.as_secs_f64(),
        count("records"),
        count("accepted"),
        count("unchanged"),
        count("refused"),
        errors.len(),
        count("errorsNotListed"),
        mib(rss_before),
        mib(peak),
        mib(hwm),
        mib(highest_rss),
        mib(anon.unwrap_or_default()),
        mib(file.unwrap_or_default()),
    );

    // The whole file was sent, and memory was watched while it was read.
    assert!(bytes >= FILE_BYTES, "only {bytes} bytes were sent");
    assert!(samples >= 10, "the server's memory was sampled only {samples} times");
    assert!(
        peak < MEMORY_LIMIT_BYTES,
        "the server's resident memory reached {:.1} MiB importing {:.0} MiB (at most {:.0} MiB)",
        mib(peak),
        mib(bytes),
        mib(MEMORY_LIMIT_BYTES)
    );

    // Flat: a gigabyte read adds next to nothing to what the gateway held
    // before it (a leak of a few bytes per row would show here well below
    // the limit above).
    let growth = highest_rss.saturating_sub(rss_before);
    assert!(
        growth < 48 * 1024 * 1024,
        "the server's resident memory grew by {:.1} MiB while it read {:.0} MiB",
        mib(growth),
        mib(bytes)
    );

    // Every row read and counted once; only the good ones written.
    assert_eq!(report["status"], "DONE", "{report}");
    assert_eq!(report["dryRun"], false, "{report}");
    assert_eq!(count("records"), rows, "every row is a record: {report}");
    assert_eq!(count("accepted"), valid, "the good rows are written: {report}");
    assert_eq!(count("unchanged"), 0, "{report}");
    assert_eq!(count("refused"), rows - valid, "the other rows are refused: {report}");
    assert!(valid > 0 && overlong > 0, "the file has good and overlong rows");

    // The report is bounded: the refusals of the lowest lines, the rest
    // counted; each refused row has at least one.
    assert!(count("refused") > MAX_LISTED as u64, "{report}");
    assert_eq!(
        errors.len(),
        MAX_LISTED,
        "as many errors listed as a report lists ({} not listed)",
        count("errorsNotListed")
    );
    assert!(
        errors.len() as u64 + count("errorsNotListed") >= count("refused"),
        "each refused row has an error, listed or counted: {} + {} < {}",
        errors.len(),
        count("errorsNotListed"),
        count("refused")
    );
    let lines: Vec<u64> = errors
        .iter()
        .map(|error| error["line"].as_u64().unwrap_or_else(|| panic!("an error without its line: {error}")))
        .collect();
    assert_eq!(lines.first(), Some(&2), "the first error listed is of the first row: {:?}", errors.first());
    assert!(lines.is_sorted(), "the errors are listed by line: {lines:?}");
    let mut distinct = lines.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        first_refused_lines(distinct.len()),
        "the errors listed are those of the first rows refused, none skipped"
    );
    let overlong_line = OVERLONG_AT + 2;
    let error = errors
        .iter()
        .find(|error| error["line"] == overlong_line)
        .unwrap_or_else(|| panic!("no error listed for the overlong row of line {overlong_line}"));
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("16 KiB")),
        "the overlong row is refused for its length: {error}"
    );
}
