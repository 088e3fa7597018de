//! `hersys-tools bench import`: a testing centre's file of N rows (new
//! people, 5 % positives) sent to `POST /import/csv` of a gateway this
//! command starts, several times, each time a new file: the time each
//! import takes, rows per second, and the gateway's memory before and at
//! its highest during the import.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use serde_json::{Value, json};

use super::Server;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The database the benchmark's gateway runs on (PostgreSQL for the
    /// real figures).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Rows of each file.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Imports, each of a new file.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where the gateway's log goes.
    #[arg(long, default_value = "bench-gateway.log")]
    pub log: PathBuf,
}

/// Katakana the readings are made of.
const SYLLABLES: [&str; 40] = [
    "ア", "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ", "サ", "シ", "ス", "セ", "ソ", "タ", "チ", "ツ", "テ",
    "ト", "ナ", "ニ", "ヌ", "ネ", "ノ", "ハ", "ヒ", "フ", "ヘ", "ホ", "マ", "ミ", "ム", "メ", "モ", "ヤ", "ユ", "ヨ",
    "ラ", "リ",
];

/// A reading no other row of any run shares: `number` in base 40.
fn reading(mut number: u64) -> String {
    let mut given = String::new();
    for _ in 0..6 {
        given.push_str(SYLLABLES[(number % 40) as usize]);
        number /= 40;
    }
    format!("トリコミ {given}")
}

/// Writes a file of `rows` rows for the facility `code`; `run` makes its
/// people and specimens new.
fn write_file(path: &PathBuf, rows: u64, run: u64, code: &str) -> anyhow::Result<u64> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(file, "facility_code,specimen_id,name_kanji,name_kana,sex,birth_date,phone,test_kind,result,sampled_at")?;
    let born = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default();
    let sampled = chrono::Utc::now().date_naive() - Days::days(1);
    for i in 0..rows {
        let person = run * 10_000_000 + i;
        let result = if i % 20 == 0 { "POSITIVE" } else { "NEGATIVE" };
        let sex = if i % 2 == 0 { "MALE" } else { "FEMALE" };
        let birth = born + Days::days((i % 25_000) as i64);
        writeln!(
            file,
            "{code},R{run}-{i:07},取込 試験{i},{},{sex},{birth},,PCR,{result},{sampled} 09:{:02}",
            reading(person),
            i % 60
        )?;
    }
    file.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.rows > 0 && options.runs > 0, "nothing to measure");
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 12]>()));
    let db = sea_orm::Database::connect(options.database_url.as_str()).await?;
    hersys::db::migrate(&db).await?;
    let centre = super::fixture::ensure_centres(&db, 1, &password).await?.remove(0);
    let code = <entity::facility::Entity as sea_orm::EntityTrait>::find_by_id(centre.facility_id)
        .one(&db)
        .await?
        .map(|f| f.code)
        .ok_or_else(|| anyhow::anyhow!("the bench facility is missing"))?;
    let server = Server::start(&options.database_url, options.log.clone()).await?;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/graphql"))
        .json(&json!({
            "query": "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
            "variables": { "u": centre.username, "p": password },
        }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["login"]["token"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!token.is_empty(), "sign-in failed: {login}");
    println!("gateway on {base}; files of {} rows from facility {code} (entered by {})", options.rows, centre.username);

    // Each run's people are new: the runs of earlier invocations too.
    let first_run = u64::from(rand::random::<u16>()) * 64;
    let path = std::env::temp_dir().join(format!("hersys-bench-import-{}.csv", std::process::id()));
    let mut rates = Vec::with_capacity(options.runs);
    for run in 0..options.runs {
        let size = write_file(&path, options.rows, first_run + run as u64, &code)?;
        let before = server.rss_bytes();
        let highest = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (highest, done, pid) = (highest.clone(), done.clone(), server.pid());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    highest.fetch_max(super::rss_of(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let file = tokio::fs::File::open(&path).await?;
        let body = reqwest::Body::wrap_stream(hersys::import_client::file_chunks(file));
        let started = Instant::now();
        let report: Value =
            http.post(format!("{base}/import/csv")).bearer_auth(&token).body(body).send().await?.json().await?;
        let took = started.elapsed();
        done.store(true, Ordering::Relaxed);
        sampler.await?;
        let accepted = report["accepted"].as_u64().unwrap_or_default();
        anyhow::ensure!(
            accepted == options.rows && report["refused"] == 0,
            "the import did not accept every row: {}",
            serde_json::to_string(&report["errors"].as_array().map(|e| &e[..e.len().min(5)]))?
        );
        let rate = options.rows as f64 / took.as_secs_f64();
        rates.push((took, rate));
        println!(
            "run {}: {} rows ({:.1} MiB) in {:.1} s: {:.0} rows/s ({} positives); gateway memory {:.1} MiB before, \
             {:.1} MiB at most during the import",
            run + 1,
            options.rows,
            size as f64 / 1048576.0,
            took.as_secs_f64(),
            rate,
            report["positives"],
            before as f64 / 1048576.0,
            highest.load(Ordering::Relaxed) as f64 / 1048576.0
        );
    }
    let _ = std::fs::remove_file(&path);
    rates.sort_by_key(|r| r.0);
    let seconds: Vec<String> = rates.iter().map(|(t, _)| format!("{:.1}", t.as_secs_f64())).collect();
    println!(
        "{} runs of {} rows: {} s (min / median / max {:.1} / {:.1} / {:.1} s; {:.0} / {:.0} / {:.0} rows/s)",
        rates.len(),
        options.rows,
        seconds.join(", "),
        rates[0].0.as_secs_f64(),
        rates[rates.len() / 2].0.as_secs_f64(),
        rates[rates.len() - 1].0.as_secs_f64(),
        rates[rates.len() - 1].1,
        rates[rates.len() / 2].1,
        rates[0].1,
    );
    Ok(())
}
