//! Logging and tracing: `tracing` to stdout, human-readable or JSON, filtered by
//! `RUST_LOG`; spans exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set, with each request's trace id in its log lines.
//!
//! Log lines are written by a background thread through a buffer (flushed
//! whenever the queue runs empty), so a request never waits on a `write` to
//! stdout; under load many lines share one system call. Nothing is dropped: a
//! full queue makes the logging thread wait instead.
//!
//! The access log (`ACCESS_LOG`, on by default) does not go through `tracing`:
//! each answered request appends one pre-formatted line to a shared buffer,
//! handed to the same writer in batches (at 32 KiB, or every 100 ms), so the
//! line every request pays for costs a few hundred nanoseconds.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use std::sync::{Arc, Mutex};

use http_kit::access::AccessSink;

use crate::config::{LogFormat, TelemetrySettings};

mod access_log;
mod format;

use access_log::{ACCESS_BATCH, ACCESS_FLUSH_EVERY, AccessLog};

/// Keeps the span exporter alive; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping it without shutdown may lose the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    access_log: Option<Arc<AccessLog>>,
    /// Flushes the log lines still queued when dropped.
    _log_writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still buffered.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.force_flush();
        }
    }

    pub fn shutdown(self) {
        if let Some(access_log) = &self.access_log {
            access_log.flush();
        }
        if let Some(provider) = self.provider {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. Call once, first thing; later calls (tests
/// that spawn several apps) keep the first subscriber.
pub fn init(settings: &TelemetrySettings) -> Telemetry {
    let (format, otlp_endpoint) = (settings.log_format, settings.otlp_endpoint.as_deref());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = otlp_endpoint.and_then(|endpoint| match tracer_provider(endpoint) {
        Ok(provider) => Some(provider),
        Err(error) => {
            eprintln!("codezest-auth: OTLP export disabled: {error}");
            None
        }
    });
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("codezest-auth"))
    });
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let access_writer = writer.clone();
    // Every line names its request from the request's context (no span is
    // made for it unless spans are exported): `format.rs`.
    let exporting = provider.is_some();
    let fmt = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            // Field colours only on a terminal, never into a file or a pipe.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .event_format(format::TextLines { exporting })
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(format::JsonLines { exporting })
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(fmt)
        .try_init()
        .is_ok();
    let access_log = (installed && settings.access_log).then(|| {
        let log = Arc::new(AccessLog {
            format,
            lines: Mutex::new(Vec::with_capacity(ACCESS_BATCH)),
            writer: access_writer,
        });
        http_kit::access::install(Arc::clone(&log) as Arc<dyn AccessSink>);
        let flusher = Arc::clone(&log);
        let _ = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(ACCESS_FLUSH_EVERY);
                    flusher.flush();
                }
            });
        log
    });
    Telemetry {
        provider: provider.filter(|_| installed),
        access_log,
        _log_writer: installed.then_some(guard),
    }
}

fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let endpoint = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "codezest-auth".into());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

/// The OpenTelemetry trace id of `span`, when spans are exported.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
