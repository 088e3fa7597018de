//! How long live events spend in each stage on this server, for the
//! metrics (`hersys_live_stage_seconds`): from the write that recorded the
//! event to its dispatch (the commit, and the wait until every older write
//! transaction has ended), and from the dispatch to a subscriber's stream
//! taking it (the broadcast to every receiver, and the scheduling of the
//! subscriber's task). What follows (the reach check, the resolvers, the
//! read audit, the socket) is the rest of what a client measures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds.
pub const BOUNDS: [f64; 13] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// A histogram of durations with fixed buckets, shared without a lock.
#[derive(Debug, Default)]
pub struct StageHistogram {
    /// Counts per bucket (not cumulative), the last for larger ones.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl StageHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS.iter().position(|bound| seconds <= *bound).unwrap_or(BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The series of one stage in Prometheus' text format.
    pub fn render(&self, name: &str, stage: &str, out: &mut String) {
        let mut cumulative = 0;
        for (n, bound) in BOUNDS.iter().enumerate() {
            cumulative += self.buckets[n].load(Ordering::Relaxed);
            out.push_str(&format!("{name}_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {cumulative}\n"));
        }
        cumulative += self.buckets[BOUNDS.len()].load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {cumulative}\n"));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        out.push_str(&format!("{name}_sum{{stage=\"{stage}\"}} {sum}\n"));
        out.push_str(&format!("{name}_count{{stage=\"{stage}\"}} {}\n", self.count.load(Ordering::Relaxed)));
    }
}

/// The stages of live events on this server.
#[derive(Debug, Default)]
pub struct Stages {
    /// From the recording write's moment to the dispatch.
    pub dispatch: StageHistogram,
    /// From the dispatch to a subscriber's stream taking the event.
    pub fanout: StageHistogram,
}

impl Stages {
    pub fn render(&self, out: &mut String) {
        let name = "hersys_live_stage_seconds";
        out.push_str(&format!(
            "# HELP {name} Time live events spend in each stage on this server: dispatch (from the write to \
             the dispatch) and fanout (from the dispatch to each subscriber's stream).\n# TYPE {name} histogram\n"
        ));
        self.dispatch.render(name, "dispatch", out);
        self.fanout.render(name, "fanout", out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_into_cumulative_buckets() {
        let histogram = StageHistogram::default();
        histogram.observe(Duration::from_micros(1500));
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render("h", "s", &mut out);
        assert!(out.contains("h_bucket{stage=\"s\",le=\"0.001\"} 0\n"), "{out}");
        assert!(out.contains("h_bucket{stage=\"s\",le=\"0.002\"} 1\n"), "{out}");
        assert!(out.contains("h_bucket{stage=\"s\",le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{stage=\"s\",le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("h_bucket{stage=\"s\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("h_count{stage=\"s\"} 3\n"), "{out}");
    }
}
