//! Logging and tracing. Logs are human-readable by default, JSON with
//! `HERSYS_LOG_FORMAT=json`; the level comes from `RUST_LOG` (default
//! `info`). With `OTEL_EXPORTER_OTLP_ENDPOINT` set (the OpenTelemetry
//! variable, e.g. `http://collector:4318`), spans are also exported over
//! OTLP/HTTP: one per request, per root field ("resolver group") and per SQL
//! statement (its text has placeholders, never values). Spans and events
//! record IDs, never personal data or tokens; what a library writes into a
//! message is redacted of secrets before it is printed. Lines are coloured
//! only when standard error is a terminal. Each HTTP request writes one
//! access line (`hersys::access`, see `http::access`).

use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The OTLP span exporter, when configured. Built on a thread of its own:
/// its blocking HTTP client must not be created inside the async runtime.
fn otlp_provider() -> Option<SdkTracerProvider> {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let built = std::thread::spawn(|| {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build().ok()?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name("hersys").build();
        Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
    })
    .join();
    built.ok().flatten()
}

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("HERSYS_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Colours only for a person at a terminal: a file, a pipe or a log
    // collector gets plain text (and `NO_COLOR` turns them off anywhere).
    let ansi = !json && colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    // Every line passes through the redactor: a library's error may quote
    // a connection URL with its password.
    let fmt =
        tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(|| crate::redact::Redacting(std::io::stderr()));
    let fmt = if json { fmt.json().boxed() } else { fmt.boxed() };
    let otlp = otlp_provider().map(|provider| {
        let tracer = provider.tracer("hersys");
        let _ = PROVIDER.set(provider);
        // The exported spans: requests, resolver groups and statements.
        let spans = EnvFilter::new("info,hersys::db=debug");
        tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans)
    });
    // A second initialisation (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(otlp).try_init();
    if PROVIDER.get().is_some() {
        tracing::info!("exporting spans over OTLP");
    }
}

/// Whether log lines are coloured: only on a terminal, and not when
/// `NO_COLOR` is set to anything but the empty string (no-color.org).
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Sends the spans not exported yet; call before the process exits.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(!colours(false, None), "a file or pipe gets no escape codes");
        assert!(!colours(true, Some("1".into())));
        assert!(colours(true, Some("".into())), "an empty NO_COLOR is unset");
    }
}
