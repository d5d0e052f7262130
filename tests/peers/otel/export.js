// tests/peers/otel/export.js BASE_URL EXPERIMENT_ID [TRACE_ID_HEX] [--simple]:
// the agent trace (agent_trace.js) exported by the real OpenTelemetry Node
// SDK (NodeTracerProvider + OTLPTraceExporter, OTLP/HTTP protobuf) to
// BASE_URL/v1/traces. Batched by default (one request); --simple sends each
// span on its own as it ends, children before their parent. Prints one line
// "CAIRN-RESULT {json}" and exits non-zero when an export failed.
'use strict';
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { provider, agentTrace } = require('./agent_trace');

const [base, experimentId, traceHex] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const simple = process.argv.includes('--simple');
const exporter = new OTLPTraceExporter({
  url: `${base}/v1/traces`,
  headers: { 'x-mlflow-experiment-id': experimentId },
});
// Count what the exporter reports back (0 = SUCCESS, 1 = FAILED).
const results = [];
const exportOrig = exporter.export.bind(exporter);
exporter.export = (spans, done) => exportOrig(spans, (res) => {
  results.push({ spans: spans.length, code: res.code, error: res.error ? String(res.error) : null });
  done(res);
});
const processor = simple ? new SimpleSpanProcessor(exporter)
  : new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, scheduledDelayMillis: 50 });
const p = provider([processor], traceHex, NodeTracerProvider);
agentTrace(p.getTracer('cairn-otel-peer', '1.0.0'));
p.forceFlush().then(() => p.shutdown()).then(() => {
  const failed = results.filter((r) => r.code !== 0);
  console.log('CAIRN-RESULT ' + JSON.stringify({ requests: results.length, spans: results.reduce((a, r) => a + r.spans, 0), failed }));
  process.exit(failed.length ? 1 : 0);
}, (e) => { console.error(e); process.exit(2); });
