//! The access log's sink: one pre-formatted line per answered request,
//! appended to a shared buffer and handed to the log writer in batches.

use std::io::Write as _;
use std::sync::{Mutex, PoisonError};

use http_kit::access::{AccessRecord, AccessSink};
use time::OffsetDateTime;
use tracing_appender::non_blocking::NonBlocking;

use crate::config::LogFormat;

/// Access lines are handed to the writer when this many bytes wait…
pub(super) const ACCESS_BATCH: usize = 32 * 1024;
/// …or this long after the last hand-over.
pub(super) const ACCESS_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The access log's sink: lines formatted straight into a shared buffer.
pub(super) struct AccessLog {
    pub(super) format: LogFormat,
    pub(super) lines: Mutex<Vec<u8>>,
    pub(super) writer: NonBlocking,
}

impl AccessLog {
    pub(super) fn flush(&self) {
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
    let mut text = String::with_capacity(27);
    let _ = super::format::write_timestamp(&mut text, now);
    out.extend_from_slice(text.as_bytes());
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
