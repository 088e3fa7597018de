//! Counters and latency histograms of the requests this server answered,
//! rendered in the Prometheus text format by `GET /metrics`. Owned by the
//! server's state, never global, so two servers in one process (tests)
//! count apart. Also the process's own series (memory, CPU, file
//! descriptors, start time, from `/proc/self`) and the build's.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Most distinct operation names tracked; later names count as `other`, so
/// a client inventing names cannot grow the series without bound.
const MAX_OPERATIONS: usize = 200;

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One operation name's counts by outcome and its latency.
#[derive(Default)]
struct Operation {
    outcomes: HashMap<String, u64>,
    latency: Histogram,
}

/// Lists of patients answered, by path: by plan (`graphql::planned`) or
/// field by field.
#[derive(Debug, Default)]
pub struct ListPaths {
    planned: AtomicU64,
    by_field: AtomicU64,
}

impl ListPaths {
    pub fn count(&self, planned: bool) {
        let counter = if planned { &self.planned } else { &self.by_field };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The series in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ =
            writeln!(out, "# HELP hersys_patient_lists_total Lists of patients answered, by plan or field by field.");
        let _ = writeln!(out, "# TYPE hersys_patient_lists_total counter");
        let _ =
            writeln!(out, "hersys_patient_lists_total{{path=\"planned\"}} {}", self.planned.load(Ordering::Relaxed));
        let _ =
            writeln!(out, "hersys_patient_lists_total{{path=\"fields\"}} {}", self.by_field.load(Ordering::Relaxed));
    }
}

/// The server's request metrics.
#[derive(Default)]
pub struct Metrics {
    /// Operation name → its counts.
    requests: Mutex<HashMap<String, Operation>>,
    audit_failures: AtomicU64,
    rate_limited: AtomicU64,
    deadline_exceeded: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counts one answered GraphQL operation: its name (`anonymous` without
    /// one), its outcome (`OK` or the first error's code) and how long it
    /// took.
    pub fn record(&self, operation: Option<&str>, outcome: &str, elapsed: Duration) {
        let Ok(mut requests) = self.requests.lock() else { return };
        let known = operation.is_some_and(|name| requests.contains_key(name));
        let name = match operation {
            Some(name) if known || requests.len() < MAX_OPERATIONS => name,
            Some(_) => "other",
            None => "anonymous",
        };
        // Strings are allocated once per new name and outcome, not per request.
        if !requests.contains_key(name) {
            requests.insert(name.to_owned(), Operation::default());
        }
        let Some(entry) = requests.get_mut(name) else { return };
        match entry.outcomes.get_mut(outcome) {
            Some(n) => *n += 1,
            None => {
                entry.outcomes.insert(outcome.to_owned(), 1);
            }
        }
        let histogram = &mut entry.latency;
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Counts an audit entry that could not be written (the response that
    /// needed it was refused).
    pub fn audit_failed(&self) {
        self.audit_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused by a rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request stopped at its deadline.
    pub fn deadline_exceeded(&self) {
        self.deadline_exceeded.fetch_add(1, Ordering::Relaxed);
    }

    /// The series in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP hersys_audit_write_failures_total Audit entries that could not be written.");
        let _ = writeln!(out, "# TYPE hersys_audit_write_failures_total counter");
        let _ = writeln!(out, "hersys_audit_write_failures_total {}", self.audit_failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hersys_rate_limited_total Requests refused by a rate limit.");
        let _ = writeln!(out, "# TYPE hersys_rate_limited_total counter");
        let _ = writeln!(out, "hersys_rate_limited_total {}", self.rate_limited.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP hersys_deadline_exceeded_total Requests stopped at their deadline.");
        let _ = writeln!(out, "# TYPE hersys_deadline_exceeded_total counter");
        let _ = writeln!(out, "hersys_deadline_exceeded_total {}", self.deadline_exceeded.load(Ordering::Relaxed));
        let Ok(requests) = self.requests.lock() else { return };
        let _ = writeln!(out, "# HELP hersys_graphql_requests_total GraphQL operations answered, by name and outcome.");
        let _ = writeln!(out, "# TYPE hersys_graphql_requests_total counter");
        let mut operations: Vec<_> = requests.iter().collect();
        operations.sort_by(|a, b| a.0.cmp(b.0));
        for (operation, entry) in &operations {
            let mut outcomes: Vec<_> = entry.outcomes.iter().collect();
            outcomes.sort();
            for (code, n) in outcomes {
                let _ = writeln!(
                    out,
                    "hersys_graphql_requests_total{{operation=\"{}\",code=\"{}\"}} {n}",
                    escape(operation),
                    escape(code)
                );
            }
        }
        let _ = writeln!(out, "# HELP hersys_graphql_request_duration_seconds Time to answer a GraphQL operation.");
        let _ = writeln!(out, "# TYPE hersys_graphql_request_duration_seconds histogram");
        for (operation, entry) in operations {
            let histogram = &entry.latency;
            let operation = escape(operation);
            for (bound, n) in BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "hersys_graphql_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "hersys_graphql_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "hersys_graphql_request_duration_seconds_sum{{operation=\"{operation}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "hersys_graphql_request_duration_seconds_count{{operation=\"{operation}\"}} {}",
                histogram.count
            );
        }
    }
}

/// A label value with `\`, `"` and newlines escaped, and at most 100
/// characters (operation names come from clients).
fn escape(value: &str) -> String {
    value
        .chars()
        .take(100)
        .flat_map(|c| match c {
            '\\' => vec!['\\', '\\'],
            '"' => vec!['\\', '"'],
            '\n' => vec!['\\', 'n'],
            c => vec![c],
        })
        .collect()
}

/// The build of this binary: `hersys_build_info{version, commit} 1`. The
/// commit is the `HERSYS_BUILD_COMMIT` of the build's environment, e.g.
/// `HERSYS_BUILD_COMMIT=$(git rev-parse HEAD) cargo build --release`
/// (`unknown` without one).
pub fn render_build_info(out: &mut String) {
    let commit = option_env!("HERSYS_BUILD_COMMIT").filter(|c| !c.is_empty()).unwrap_or("unknown");
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let _ = writeln!(out, "# HELP hersys_build_info The version and commit of this binary (always 1).");
    let _ = writeln!(out, "# TYPE hersys_build_info gauge");
    let _ = writeln!(
        out,
        "hersys_build_info{{version=\"{}\",commit=\"{}\",profile=\"{profile}\"}} 1",
        escape(env!("CARGO_PKG_VERSION")),
        escape(commit)
    );
}

/// Clock ticks per second of the CPU times in `/proc/self/stat`
/// (`USER_HZ`, 100 on every Linux architecture the gateway runs on).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's own series, with the names every Prometheus client uses:
/// resident and virtual memory, CPU seconds, open and most file
/// descriptors, start time. Read from `/proc/self` on Linux; elsewhere (or
/// if `/proc` cannot be read) the series are left out.
pub fn render_process(out: &mut String) {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    if let Some(stat) = read("/proc/self/stat").as_deref().and_then(ProcessStat::parse) {
        let cpu = (stat.user_ticks + stat.system_ticks) as f64 / TICKS_PER_SECOND;
        let _ = writeln!(out, "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.");
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
        let _ = writeln!(out, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.");
        let _ = writeln!(out, "# TYPE process_virtual_memory_bytes gauge");
        let _ = writeln!(out, "process_virtual_memory_bytes {}", stat.virtual_bytes);
        if let Some(boot) = read("/proc/stat").as_deref().and_then(boot_time) {
            let start = boot as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND;
            let _ = writeln!(
                out,
                "# HELP process_start_time_seconds Start time of the process since the epoch, in seconds."
            );
            let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
            let _ = writeln!(out, "process_start_time_seconds {start}");
        }
    }
    if let Some(rss) = read("/proc/self/status").as_deref().and_then(resident_bytes) {
        let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.");
        let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        // The directory being listed holds one descriptor itself.
        let open = entries.count().saturating_sub(1);
        let _ = writeln!(out, "# HELP process_open_fds Open file descriptors.");
        let _ = writeln!(out, "# TYPE process_open_fds gauge");
        let _ = writeln!(out, "process_open_fds {open}");
    }
    if let Some(max) = read("/proc/self/limits").as_deref().and_then(max_open_files) {
        let _ = writeln!(out, "# HELP process_max_fds Most open file descriptors allowed.");
        let _ = writeln!(out, "# TYPE process_max_fds gauge");
        let _ = writeln!(out, "process_max_fds {max}");
    }
}

/// What the metrics take from `/proc/self/stat`.
#[derive(Debug, PartialEq)]
struct ProcessStat {
    user_ticks: u64,
    system_ticks: u64,
    /// Since boot.
    start_ticks: u64,
    virtual_bytes: u64,
}

impl ProcessStat {
    /// Fields 14, 15, 22 and 23 (`utime`, `stime`, `starttime`, `vsize`),
    /// counted after the command name, which may hold spaces and ends at the
    /// last `)`.
    fn parse(text: &str) -> Option<ProcessStat> {
        let after_name = &text[text.rfind(')')? + 1..];
        // The first field after the name is field 3 (`state`).
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(ProcessStat {
            user_ticks: field(14)?,
            system_ticks: field(15)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
        })
    }
}

/// `btime` of `/proc/stat`: the boot time, in seconds since the epoch.
fn boot_time(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("btime ")).and_then(|n| n.trim().parse().ok())
}

/// `VmRSS` of `/proc/self/status` (in kB there), in bytes.
fn resident_bytes(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit on open files of `/proc/self/limits`.
fn max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_counted_by_name_and_outcome_with_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record(Some("Dashboard"), "OK", Duration::from_millis(3));
        metrics.record(Some("Dashboard"), "OK", Duration::from_millis(40));
        metrics.record(None, "FORBIDDEN", Duration::from_millis(1));
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("hersys_graphql_requests_total{operation=\"Dashboard\",code=\"OK\"} 2"), "{out}");
        assert!(out.contains("hersys_graphql_requests_total{operation=\"anonymous\",code=\"FORBIDDEN\"} 1"));
        assert!(out.contains("_bucket{operation=\"Dashboard\",le=\"0.005\"} 1"), "{out}");
        assert!(out.contains("_bucket{operation=\"Dashboard\",le=\"0.05\"} 2"));
        assert!(out.contains("_bucket{operation=\"Dashboard\",le=\"+Inf\"} 2"));
    }

    #[test]
    fn invented_operation_names_cannot_grow_the_series_without_bound() {
        let metrics = Metrics::default();
        for i in 0..(MAX_OPERATIONS + 50) {
            metrics.record(Some(&format!("Op{i}\"\n")), "OK", Duration::from_millis(1));
        }
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("operation=\"other\",code=\"OK\"} 50"), "{out}");
        assert!(out.contains("Op0\\\"\\n"), "names are escaped");
    }

    #[test]
    fn process_figures_are_read_from_proc() {
        let stat = "4242 (hersys (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 \
                    987654 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 4096 17643 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            ProcessStat::parse(stat),
            Some(ProcessStat { user_ticks: 250, system_ticks: 75, start_ticks: 987654, virtual_bytes: 123456789 })
        );
        assert_eq!(ProcessStat::parse("garbage"), None);
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
        assert_eq!(resident_bytes("Name:\thersys\nVmRSS:\t   40960 kB\n"), Some(40960 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
    }

    #[test]
    fn the_process_and_build_series_render() {
        let mut out = String::new();
        render_build_info(&mut out);
        render_process(&mut out);
        assert!(out.contains(&format!("hersys_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{out}");
        if cfg!(target_os = "linux") {
            for series in ["process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds "] {
                assert!(out.contains(series), "{series} in {out}");
            }
            assert!(out.contains("process_start_time_seconds "), "{out}");
        }
    }
}
