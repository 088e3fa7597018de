//! `hersys import FILE`: a facility's batch sends its file to a running
//! gateway (`POST /import/csv` or `/import/fhir`), streamed from disk so
//! that a file of any size uses little memory, with a progress bar on
//! standard error while the gateway takes it in (it reads no faster than
//! it writes, so the bar follows the import). The report is printed on
//! standard output as JSON.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: CSV in the documented layout, or a FHIR R4 bundle (JSON).
    pub file: PathBuf,
    /// The gateway's address.
    #[arg(long, env = "HERSYS_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Checks the file and prints the report without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The file's format; by default from its extension (`.json` is FHIR,
    /// anything else CSV).
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Csv,
    Fhir,
}

/// Sends the file and prints the report; exits with 2 when items were
/// refused.
pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let token = std::env::var("HERSYS_TOKEN").context("set HERSYS_TOKEN to the importing account's session token")?;
    let format = args.format.unwrap_or_else(|| {
        let json = args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if json { FileFormat::Fhir } else { FileFormat::Csv }
    });
    let file = tokio::fs::File::open(&args.file).await.with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().await?.len();
    let sent = Arc::new(AtomicU64::new(0));
    let counted = sent.clone();
    let body = reqwest::Body::wrap_stream(futures_util::StreamExt::inspect(file_chunks(file), move |chunk| {
        if let Ok(chunk) = chunk {
            counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    }));
    let path = match format {
        FileFormat::Csv => "import/csv",
        FileFormat::Fhir => "import/fhir",
    };
    let url = format!("{}/{path}{}", args.url.trim_end_matches('/'), if args.dry_run { "?dryRun=true" } else { "" });
    let request = reqwest::Client::new().post(&url).bearer_auth(token.trim()).body(body).send();
    let bar = tokio::spawn(progress(sent, size));
    let response = request.await.with_context(|| format!("sending the file to {url}"));
    bar.abort();
    eprintln!();
    let response = response?;
    let status = response.status();
    let text = response.text().await.context("reading the report")?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("the gateway answered {status} without a report"))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !status.is_success() {
        anyhow::bail!("the gateway refused the import ({status})");
    }
    let count = |name: &str| report[name].as_u64().unwrap_or_default();
    eprintln!(
        "{} items: {} accepted, {} already there, {} refused{}",
        count("records"),
        count("accepted"),
        count("unchanged"),
        count("refused"),
        if args.dry_run { " (dry run: nothing written)" } else { "" }
    );
    if count("refused") > 0 || report["status"] != "DONE" {
        std::process::exit(2);
    }
    Ok(())
}

/// A file read as a stream of chunks of 64 KiB, for a streamed request
/// body.
pub fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(buffer), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    })
}

/// Draws the share of the file sent, every quarter second on a terminal
/// (every ten per cent otherwise).
async fn progress(sent: Arc<AtomicU64>, size: u64) {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let mut last_tenth = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let done = sent.load(Ordering::Relaxed).min(size);
        let share = if size == 0 { 1.0 } else { done as f64 / size as f64 };
        let mut err = std::io::stderr().lock();
        if terminal {
            let filled = (share * 40.0) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {:5.1} %  {} / {} MiB  {:.0} s",
                "#".repeat(filled),
                " ".repeat(40 - filled.min(40)),
                share * 100.0,
                done >> 20,
                size >> 20,
                started.elapsed().as_secs_f64()
            );
        } else if (share * 10.0) as u64 > last_tenth {
            last_tenth = (share * 10.0) as u64;
            let _ = writeln!(err, "{} % sent", last_tenth * 10);
        }
        let _ = err.flush();
    }
}
