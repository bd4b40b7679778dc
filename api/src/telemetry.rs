//! Logging set-up: human-readable or JSON lines, filtered by `LECTERN_LOG`; and, when an
//! OTLP endpoint is configured, the same spans (requests, builds, jobs) exported as traces.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(format: LogFormat, filter: &str) {
    let _ = init_with_traces(format, filter, None);
}

/// Flushes the traces not yet exported when dropped (at the end of `lectern serve`).
pub struct Traces(SdkTracerProvider);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(err) = self.0.shutdown() {
            eprintln!("could not flush the last traces: {err}");
        }
    }
}

/// [`init`], exporting spans as traces to the OTLP/HTTP collector at `otlp` (its base URL:
/// traces go to `{otlp}/v1/traces`) when given.
pub fn init_with_traces(
    format: LogFormat,
    filter: &str,
    otlp: Option<&url::Url>,
) -> Option<Traces> {
    let filter = EnvFilter::try_new(effective_filter(filter)).unwrap_or_else(|err| {
        eprintln!("LECTERN_LOG `{filter}` is not a valid filter ({err}); using `info`");
        EnvFilter::new("info")
    });
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Text => lines.boxed(),
    };
    let provider = otlp.and_then(|endpoint| match tracer_provider(endpoint) {
        Ok(provider) => Some(provider),
        Err(err) => {
            eprintln!("traces are not exported: {err}");
            None
        }
    });
    // Traces hold Lectern's own spans (requests, builds, jobs) whatever LECTERN_LOG keeps
    // in the log, and other libraries' only when they warn.
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("lectern"))
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("lectern", tracing::Level::INFO)
                    .with_default(tracing::Level::WARN),
            )
    });
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(traces)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        // A request that arrives with a W3C `traceparent` joins the caller's trace.
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        EXPORTING.store(true, Ordering::Relaxed);
    }
    if installed && let Some(endpoint) = otlp {
        tracing::info!(endpoint = %endpoint, "exporting traces (OTLP over HTTP)");
    }
    provider.filter(|_| installed).map(Traces)
}

/// Whether spans are exported as traces (set once, at start).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Makes `span` a child of the trace a request's `traceparent` header names, if any. Without
/// traces exported it does nothing (it runs for every request).
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    if !EXPORTING.load(Ordering::Relaxed) {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    // Without a remote parent the span simply starts its own trace.
    let _ = span.set_parent(parent);
}

/// HTTP headers as OpenTelemetry's propagators read them.
struct Headers<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// `LECTERN_LOG` as applied: unless it names `tokio_postgres`, that library stays at `info`
/// — at `debug` it logs every query's parameters, whole build logs among them (lines of
/// megabytes), which no one asking for Lectern's debug lines means to get.
pub fn effective_filter(filter: &str) -> String {
    if filter.contains("tokio_postgres") {
        filter.to_owned()
    } else {
        format!("{filter},tokio_postgres=info")
    }
}

fn tracer_provider(endpoint: &url::Url) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!(
            "{}/v1/traces",
            endpoint.as_str().trim_end_matches('/')
        ))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("lectern")
                .build(),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::effective_filter;

    #[test]
    fn query_parameters_stay_out_of_debug_logs_unless_asked_for() {
        assert_eq!(effective_filter("debug"), "debug,tokio_postgres=info");
        assert_eq!(
            effective_filter("info,lectern=debug"),
            "info,lectern=debug,tokio_postgres=info"
        );
        assert_eq!(
            effective_filter("debug,tokio_postgres=debug"),
            "debug,tokio_postgres=debug"
        );
    }
}
