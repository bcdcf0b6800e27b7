//! The formats of `tracing`'s lines (the access line has its own, in
//! `access_log.rs`, of the same shape): every line a request logs names the
//! request — method, matched route, request id, user — from its
//! [`RequestContext`] (a task-local; no span is made for it unless spans are
//! exported), beside the fields of the `tracing` span it is in, if any.

use std::fmt::{self, Write as _};

use http_kit::access::RequestContext;
use time::OffsetDateTime;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// `2026-12-07T02:30:00.123456Z`.
pub(super) fn write_timestamp(out: &mut impl fmt::Write, now: OffsetDateTime) -> fmt::Result {
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

/// The trace id of the current span, when spans are exported.
fn trace_id(exporting: bool) -> Option<String> {
    exporting
        .then(|| super::trace_id(&tracing::Span::current()))
        .flatten()
}

/// `{"timestamp","level","fields":{…},"target","span":{…}}` — the request's
/// context and the current span's fields under `span` (`name`: the span's,
/// or `request`).
pub(super) struct JsonLines {
    pub(super) exporting: bool,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, OffsetDateTime::now_utc())?;
        write!(
            writer,
            "\",\"level\":\"{}\",\"fields\":{},\"target\":{}",
            meta.level(),
            serde_json::Value::Object(fields),
            serde_json::Value::from(meta.target())
        )?;
        let mut span = serde_json::Map::new();
        if let Some(current) = ctx.lookup_current() {
            let extensions = current.extensions();
            if let Some(formatted) = extensions.get::<FormattedFields<N>>()
                && let Ok(serde_json::Value::Object(own)) =
                    serde_json::from_str::<serde_json::Value>(&formatted.fields)
            {
                span.extend(own);
            }
            span.insert("name".into(), current.name().into());
        }
        if let Some(request) = RequestContext::current() {
            span.insert("method".into(), request.method().as_str().into());
            span.insert("route".into(), request.route().into());
            span.insert("request_id".into(), request.request_id().into());
            if let Some(user_id) = request.user_id() {
                span.insert("user_id".into(), user_id.to_string().into());
            }
            span.entry("name").or_insert_with(|| "request".into());
        }
        if let Some(trace_id) = trace_id(self.exporting) {
            span.insert("trace_id".into(), trace_id.into());
        }
        if !span.is_empty() {
            write!(writer, ",\"span\":{}", serde_json::Value::Object(span))?;
        }
        writer.write_str("}\n")
    }
}

/// `timestamp LEVEL request{method= route= request_id= user_id=}:span{…}: target: fields`.
pub(super) struct TextLines {
    pub(super) exporting: bool,
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write_timestamp(&mut writer, OffsetDateTime::now_utc())?;
        write!(writer, " {:>5} ", meta.level())?;
        if let Some(request) = RequestContext::current() {
            write!(
                writer,
                "request{{method={} route={} request_id={}",
                request.method(),
                request.route(),
                request.request_id()
            )?;
            if let Some(user_id) = request.user_id() {
                write!(writer, " user_id={user_id}")?;
            }
            if let Some(trace_id) = trace_id(self.exporting) {
                write!(writer, " trace_id={trace_id}")?;
            }
            writer.write_str("}: ")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        write!(writer, "{}: ", meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// An event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole cause chain, as the default formatter shows it.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.0.insert(field.name().into(), text.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}
