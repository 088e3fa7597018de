//! `hersys-tools bench subscriptions`: opens N `positiveResults` subscriptions
//! spread over bench health centres, records positives at a given rate from
//! another connection, and prints connections held, events delivered, lost
//! and duplicated, latency from commit to delivery, and the gateway's
//! memory per idle subscription. It starts the gateway itself, so that it
//! can read its memory and, with `--kill-at`, SIGKILL and restart it
//! mid-run; with `--churn`, a share of the subscribers drop their
//! connection mid-run and resume with their cursor.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Server, describe};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The database the benchmark's gateway runs on (PostgreSQL for the
    /// real figures).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Subscriptions to hold.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Health centres to spread them over (each gets an account).
    #[arg(long, default_value_t = 470)]
    pub centres: usize,
    /// Positives recorded per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of recording.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Share of subscribers (0 to 1) that drop and resume mid-run.
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// SIGKILL and restart the gateway this many seconds into the run.
    #[arg(long)]
    pub kill_at: Option<u64>,
    /// Where the gateway's log goes.
    #[arg(long, default_value = "bench-gateway.log")]
    pub log: PathBuf,
}

const SUBSCRIPTION: &str =
    "subscription($after: String) { positiveResults(after: $after) { cursor occurredAt test { id } } }";

/// What the subscribers saw, shared by all of them.
struct Tally {
    latency: Mutex<Histogram<u64>>,
    /// Deliveries per test ID (each subscriber counts once per test).
    delivered: Mutex<HashMap<i64, u64>>,
    duplicates: AtomicU64,
    connected: AtomicUsize,
    reconnects: AtomicU64,
    stop: AtomicBool,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.subscribers > 0 && options.centres > 0 && options.rate > 0.0, "nothing to measure");
    let password = format!("bench-{}", hex::encode(rand::random::<[u8; 12]>()));
    let db = sea_orm::Database::connect(options.database_url.as_str()).await?;
    hersys::db::migrate(&db).await?;
    let centres = super::fixture::ensure_centres(&db, options.centres, &password).await?;
    let mut server = Server::start(&options.database_url, options.log.clone()).await?;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();
    println!("gateway on {base}, {} health centres", centres.len());

    // Sign in every centre and give each one patient to record tests for.
    let mut tokens = Vec::with_capacity(centres.len());
    let mut patients = Vec::with_capacity(centres.len());
    for centre in &centres {
        let login = graphql(
            &http,
            &base,
            None,
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
            json!({ "u": centre.username, "p": password }),
        )
        .await?;
        let token = login["login"]["token"].as_str().unwrap_or_default().to_owned();
        let registered = graphql(
            &http,
            &base,
            Some(&token),
            "mutation($f: ID!) { registerPatient(input: { caseType: CONFIRMED, nameKanji: \"負荷 試験\", \
             nameKana: \"フカ シケン\", sex: UNKNOWN, birthDate: \"1970-01-01\", facilityId: $f }) { id } }",
            json!({ "f": centre.facility_id.to_string() }),
        )
        .await?;
        patients.push(registered["registerPatient"]["id"].as_str().unwrap_or_default().to_owned());
        tokens.push(token);
    }

    let tally = Arc::new(Tally {
        latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        delivered: Mutex::new(HashMap::new()),
        duplicates: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        reconnects: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let memory_before = server.rss_bytes();
    let mut subscribers_of = vec![0u64; centres.len()];
    let mut drops = Vec::with_capacity(options.subscribers);
    let mut handles = Vec::with_capacity(options.subscribers);
    let opening = Arc::new(Semaphore::new(256));
    for index in 0..options.subscribers {
        let centre = index % centres.len();
        subscribers_of[centre] += 1;
        let drop_flag = Arc::new(AtomicBool::new(false));
        drops.push(drop_flag.clone());
        let token = tokens[centre].clone();
        let addr = server.addr.clone();
        let tally = tally.clone();
        let opening = opening.clone();
        handles.push(tokio::spawn(subscriber(addr, token, tally, drop_flag, opening)));
    }
    let started = Instant::now();
    while tally.connected.load(Ordering::Relaxed) < options.subscribers {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "subscriptions did not all open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory_idle = server.rss_bytes();
    let per_connection = memory_idle.saturating_sub(memory_before) as f64 / options.subscribers as f64;
    println!(
        "connections held: {} (opened in {:.1} s); gateway memory {:.1} MiB -> {:.1} MiB idle: {:.1} KiB per subscription",
        tally.connected.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        memory_before as f64 / 1048576.0,
        memory_idle as f64 / 1048576.0,
        per_connection / 1024.0
    );

    // Record positives at the rate, round-robin over the centres.
    let recorded: Arc<Mutex<Vec<(i64, usize)>>> = Arc::default();
    let in_flight = Arc::new(Semaphore::new(64));
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let total = (options.rate * options.duration as f64).round() as usize;
    let run_started = Instant::now();
    let mut killed = false;
    let mut churned = false;
    let mut writers = Vec::with_capacity(total);
    for n in 0..total {
        let due = run_started + interval * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let elapsed = run_started.elapsed().as_secs();
        if let Some(at) = options.kill_at
            && !killed
            && elapsed >= at
        {
            killed = true;
            println!("SIGKILL to the gateway at {elapsed} s; restarting");
            server.kill_and_restart().await?;
        }
        if options.churn > 0.0 && !churned && elapsed * 2 >= options.duration {
            churned = true;
            let count = (drops.len() as f64 * options.churn).round() as usize;
            drops.iter().take(count).for_each(|d| d.store(true, Ordering::Relaxed));
            println!("{count} subscribers drop their connection and resume");
        }
        let centre = n % centres.len();
        let permit = in_flight.clone().acquire_owned().await?;
        let (http, base, token, patient, facility) = (
            http.clone(),
            base.clone(),
            tokens[centre].clone(),
            patients[centre].clone(),
            centres[centre].facility_id.to_string(),
        );
        let recorded = recorded.clone();
        writers.push(tokio::spawn(async move {
            let key = format!("bench-{n}-{}", hex::encode(rand::random::<[u8; 8]>()));
            let id = record_positive(&http, &base, &token, &patient, &facility, &key).await;
            drop(permit);
            if let Some(id) = id {
                recorded.lock().await.push((id, centre));
            }
        }));
    }
    for writer in writers {
        writer.await?;
    }
    let recording = run_started.elapsed();
    let recorded = recorded.lock().await.clone();
    let expected: u64 = recorded.iter().map(|(_, centre)| subscribers_of[*centre]).sum();
    let drain_started = Instant::now();
    loop {
        let delivered: u64 = tally.delivered.lock().await.values().sum();
        if delivered >= expected || drain_started.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tally.stop.store(true, Ordering::Relaxed);
    let delivered = tally.delivered.lock().await.clone();
    let mut lost = 0u64;
    for (id, centre) in &recorded {
        lost += subscribers_of[*centre].saturating_sub(delivered.get(id).copied().unwrap_or(0));
    }
    let delivered_total: u64 = delivered.values().sum();
    println!(
        "positives recorded: {} in {:.1} s ({:.0}/s); deliveries expected {expected}, delivered {delivered_total}, \
         lost {lost}, duplicated {}; reconnects {}",
        recorded.len(),
        recording.as_secs_f64(),
        recorded.len() as f64 / recording.as_secs_f64(),
        tally.duplicates.load(Ordering::Relaxed),
        tally.reconnects.load(Ordering::Relaxed)
    );
    println!("latency from commit to delivery: {}", describe(&*tally.latency.lock().await));
    // The gateway's own account of where the time went.
    if let Ok(response) = reqwest::get(format!("{base}/metrics")).await
        && let Ok(text) = response.text().await
    {
        for stage in ["dispatch", "fanout"] {
            println!("gateway stage {stage}: {}", stage_quantiles(&text, stage));
        }
    }
    println!("gateway memory at the end: {:.1} MiB", server.rss_bytes() as f64 / 1048576.0);
    for handle in handles {
        handle.abort();
    }
    Ok(())
}

async fn graphql(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await?.json().await?;
    anyhow::ensure!(body["errors"].is_null(), "GraphQL errors: {}", body["errors"]);
    Ok(body["data"].clone())
}

/// Records one positive, retrying with the same idempotency key until the
/// gateway answers (across a restart): the test ID, once known.
async fn record_positive(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    patient: &str,
    facility: &str,
    key: &str,
) -> Option<i64> {
    let body = json!({
        "query": "mutation($input: RecordTestInput!) { recordTest(input: $input) { id } }",
        "variables": { "input": { "patientId": patient, "kind": "PCR", "result": "POSITIVE", "facilityId": facility } },
    });
    for _ in 0..600 {
        let sent = http
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        if let Ok(response) = sent
            && let Ok(answer) = response.json::<Value>().await
        {
            if let Some(id) = answer["data"]["recordTest"]["id"].as_str().and_then(|id| id.parse().ok()) {
                return Some(id);
            }
            if answer["errors"][0]["extensions"]["code"] != "CONFLICT"
                && answer["errors"][0]["extensions"]["code"] != "INTERNAL"
            {
                eprintln!("recordTest refused: {answer}");
                return None;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One subscriber: subscribes, counts what arrives, and resumes with its
/// last cursor whenever the connection ends (or it is told to drop).
async fn subscriber(
    addr: String,
    token: String,
    tally: Arc<Tally>,
    drop_flag: Arc<AtomicBool>,
    opening: Arc<Semaphore>,
) {
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    let mut first = true;
    while !tally.stop.load(Ordering::Relaxed) {
        let socket = {
            let _permit = opening.acquire().await;
            open(&addr, &token, cursor.as_deref()).await
        };
        let Some(mut socket) = socket else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if first {
            tally.connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        } else {
            tally.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        loop {
            if drop_flag.swap(false, Ordering::Relaxed) {
                let _ = socket.close(None).await;
                break;
            }
            let next = tokio::time::timeout(Duration::from_millis(500), socket.next()).await;
            let message = match next {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(_) => break,
            };
            let Ok(value) = serde_json::from_str::<Value>(message.as_str()) else { continue };
            if value["type"] == "ping" {
                let _ = socket.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                continue;
            }
            if value["type"] != "next" {
                break;
            }
            let event = &value["payload"]["data"]["positiveResults"];
            let (Some(id), Some(at)) = (
                event["test"]["id"].as_str().and_then(|id| id.parse::<i64>().ok()),
                event["occurredAt"].as_str().and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok()),
            ) else {
                break;
            };
            cursor = event["cursor"].as_str().map(str::to_owned);
            if !seen.insert(id) {
                tally.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let micros = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0).max(1);
            let _ = tally.latency.lock().await.record(micros as u64);
            *tally.delivered.lock().await.entry(id).or_default() += 1;
        }
    }
}

async fn open(addr: &str, token: &str, after: Option<&str>) -> Option<Socket> {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().ok()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().ok()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.ok()?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.ok()?;
    let ack = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.ok()??.ok()?;
    if !ack.to_text().ok()?.contains("connection_ack") {
        return None;
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "after": after } } });
    socket.send(Message::Text(subscribe.to_string().into())).await.ok()?;
    Some(socket)
}

/// The p50 and p99 of a stage of `hersys_live_stage_seconds` in the
/// gateway's metrics, as the upper bounds of the buckets they fall in.
fn stage_quantiles(metrics: &str, stage: &str) -> String {
    let prefix = format!("hersys_live_stage_seconds_bucket{{stage=\"{stage}\",le=\"");
    let buckets: Vec<(String, u64)> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            Some((bound.to_owned(), count.trim().parse().ok()?))
        })
        .collect();
    let Some((_, total)) = buckets.last().cloned() else { return "not reported".to_owned() };
    if total == 0 {
        return "no events".to_owned();
    }
    let quantile = |q: f64| {
        let wanted = (total as f64 * q).ceil() as u64;
        buckets.iter().find(|(_, n)| *n >= wanted).map_or("?".to_owned(), |(bound, _)| bound.clone())
    };
    format!("{total} events, p50 <= {} s, p99 <= {} s", quantile(0.5), quantile(0.99))
}
