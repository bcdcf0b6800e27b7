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

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use http_kit::access::{AccessRecord, AccessSink};
use time::OffsetDateTime;
use tracing_appender::non_blocking::NonBlocking;

use crate::config::{LogFormat, TelemetrySettings};

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
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let access_writer = writer.clone();
    let fmt = match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .with_current_span(true)
            .with_span_list(false)
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

/// Access lines are handed to the writer when this many bytes wait…
const ACCESS_BATCH: usize = 32 * 1024;
/// …or this long after the last hand-over.
const ACCESS_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The access log's sink: lines formatted straight into a shared buffer.
struct AccessLog {
    format: LogFormat,
    lines: Mutex<Vec<u8>>,
    writer: NonBlocking,
}

impl AccessLog {
    fn flush(&self) {
        let batch = {
            let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            if lines.is_empty() {
                return;
            }
            std::mem::replace(&mut *lines, Vec::with_capacity(ACCESS_BATCH))
        };
        self.hand_over(&batch);
    }

    fn hand_over(&self, batch: &[u8]) {
        // One message of whole lines: never interleaved with other lines.
        let _ = self.writer.clone().write_all(batch);
    }
}

impl AccessSink for AccessLog {
    fn record(&self, record: &AccessRecord<'_>) {
        let now = OffsetDateTime::now_utc();
        let full = {
            let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            match self.format {
                LogFormat::Json => json_line(&mut lines, now, record),
                LogFormat::Pretty => text_line(&mut lines, now, record),
            }
            (lines.len() >= ACCESS_BATCH)
                .then(|| std::mem::replace(&mut *lines, Vec::with_capacity(ACCESS_BATCH)))
        };
        if let Some(batch) = full {
            self.hand_over(&batch);
        }
    }
}

/// `2026-12-07T02:30:00.123456Z`, as the other lines show time.
fn timestamp(out: &mut Vec<u8>, now: OffsetDateTime) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
}

/// A line shaped like the JSON formatter's: `fields` the event's, `span` the
/// request's.
fn json_line(out: &mut Vec<u8>, now: OffsetDateTime, record: &AccessRecord<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, now);
    let _ = write!(
        out,
        "\",\"level\":\"INFO\",\"fields\":{{\"message\":\"finished processing request\",\"latency_us\":{},\"status\":{}}},\"target\":\"access\",\"span\":{{\"method\":\"",
        record.latency.as_micros(),
        record.status,
    );
    json_escaped(out, record.method.as_str());
    out.extend_from_slice(b"\",\"route\":\"");
    json_escaped(out, record.route);
    out.extend_from_slice(b"\",\"request_id\":\"");
    json_escaped(out, record.request_id);
    out.push(b'"');
    if let Some(user_id) = record.user_id {
        let _ = write!(out, ",\"user_id\":\"{user_id}\"");
    }
    if let Some(trace_id) = &record.trace_id {
        out.extend_from_slice(b",\"trace_id\":\"");
        json_escaped(out, trace_id);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"name\":\"request\"}}\n");
}

/// A line shaped like the text formatter's.
fn text_line(out: &mut Vec<u8>, now: OffsetDateTime, record: &AccessRecord<'_>) {
    timestamp(out, now);
    let _ = write!(
        out,
        "  INFO request{{method={} route={} request_id={}",
        record.method, record.route, record.request_id
    );
    if let Some(user_id) = record.user_id {
        let _ = write!(out, " user_id={user_id}");
    }
    if let Some(trace_id) = &record.trace_id {
        let _ = write!(out, " trace_id={trace_id}");
    }
    let _ = writeln!(
        out,
        "}}: access: finished processing request latency_us={} status={}",
        record.latency.as_micros(),
        record.status
    );
}

/// `value` inside a JSON string. Header values are visible ASCII (and tab):
/// only quotes, backslashes and tabs need escaping.
fn json_escaped(out: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            byte if byte < 0x20 => {
                let _ = write!(out, "\\u{byte:04x}");
            }
            byte => out.push(byte),
        }
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
