//! Logs and traces, set up once per process.
//!
//! - Logs: `RUST_LOG` filters (default `info`); `TICKETON_LOG_FORMAT=json`
//!   writes one JSON object per line with the `trace_id` and `span_id` of
//!   the span the event happened in, for a log agent (deploy/alloy); text
//!   is the default, for a terminal.
//! - Traces: OpenTelemetry, exported as OTLP/HTTP (protobuf) when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//!   is set, and configured by the other standard variables, read by the
//!   SDK itself: `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER` and
//!   `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`. Unset, nothing is exported and
//!   no collector is needed; spans still get ids, so log lines carry them
//!   and an incoming `traceparent` is passed on (see [`crate::trace_context`]).

use std::fmt;

use opentelemetry::trace::{TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// For a terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log agent.
    Json,
}

/// The tracer provider, kept to flush what is still queued at exit.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Whether spans leave the process (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Exports the spans still queued. Call last in `main`.
    pub fn shutdown(self) {
        if self.exporting {
            if let Err(e) = self.provider.shutdown() {
                eprintln!("exporting the last spans failed: {e}");
            }
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// The provider: exporting through OTLP/HTTP when an endpoint is set, else
/// one that only gives spans their ids.
fn tracer_provider(default_service_name: &'static str) -> (SdkTracerProvider, bool) {
    // The SDK reads OTEL_SERVICE_NAME itself; the binary's name is the
    // fallback instead of "unknown_service".
    let resource = if env_set("OTEL_SERVICE_NAME") {
        Resource::builder().build()
    } else {
        Resource::builder()
            .with_service_name(default_service_name)
            .build()
    };
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if !env_set("OTEL_EXPORTER_OTLP_ENDPOINT") && !env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return (builder.build(), false);
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), true),
        Err(e) => {
            eprintln!("OTLP export is off: {e}");
            (builder.build(), false)
        }
    }
}

/// Installs the global subscriber and tracer provider. Call once, first
/// thing in `main` (no runtime needed: the exporter has a thread of its own).
pub fn init(format: LogFormat, default_service_name: &'static str) -> Telemetry {
    let (provider, exporting) = tracer_provider(default_service_name);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // RUST_LOG filters the log lines only: spans are exported at INFO and
    // above whatever the log level, so `RUST_LOG=warn` keeps the traces. A
    // static level (not a closure) keeps tracing's per-callsite caching, so
    // the disabled debug events of the hot paths stay free.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("ticketon"))
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonWithTraceIds::default())
            .with_filter(filter)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(spans)
        .with(lines)
        .init();
    Telemetry {
        provider,
        exporting,
    }
}

use tracing_subscriber::Layer as _;

/// tracing-subscriber's JSON line with `trace_id` and `span_id` added: the
/// ids of the nearest span the event is in, so that Loki can jump from a log
/// line to its trace.
#[derive(Debug)]
struct JsonWithTraceIds {
    inner: Format<Json>,
}

impl Default for JsonWithTraceIds {
    fn default() -> Self {
        JsonWithTraceIds {
            inner: tracing_subscriber::fmt::format().json(),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx.event_scope().and_then(|scope| {
            scope.into_iter().find_map(|span| {
                let extensions = span.extensions();
                let data = extensions.get::<OtelData>()?;
                let trace_id = data.trace_id()?;
                let span_id = data.span_id()?;
                (trace_id != TraceId::INVALID).then_some((trace_id, span_id))
            })
        });
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(512);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_suffix("}\n") {
            Some(head) => {
                writer.write_str(head)?;
                writeln!(
                    writer,
                    ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"
                )
            }
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_in_a_span_carry_its_trace_and_span_ids() {
        let lines = Lines::default();
        let writer = lines.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonWithTraceIds::default())
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            tracing::info_span!("hold", seats = 2).in_scope(|| tracing::info!(n = 1, "inside"));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert!(parsed[0].get("trace_id").is_none());
        let trace_id = parsed[1]["trace_id"].as_str().expect("a trace_id");
        let span_id = parsed[1]["span_id"].as_str().expect("a span_id");
        assert_eq!((trace_id.len(), span_id.len()), (32, 16));
        assert_eq!(parsed[1]["fields"]["message"], "inside");
    }
}
