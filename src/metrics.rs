//! Counters and latency histograms of the requests this server answered,
//! rendered in the Prometheus text format by `GET /metrics`. Owned by the
//! server's state, never global, so two servers in one process (tests)
//! count apart.

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
}
