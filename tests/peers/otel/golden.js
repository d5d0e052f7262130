// tests/peers/otel/golden.js OUTDIR: writes the agent trace as the real
// OpenTelemetry serializers encode it -- agent.pb (OTLP protobuf) and
// agent.json (OTLP JSON) -- for core/otlp's unit tests.
'use strict';
const fs = require('fs');
const path = require('path');
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { ProtobufTraceSerializer, JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { provider, agentTrace } = require('./agent_trace');

const mem = new InMemorySpanExporter();
const p = provider([new SimpleSpanProcessor(mem)]);
agentTrace(p.getTracer('cairn-otel-peer', '1.0.0'));
const spans = mem.getFinishedSpans();
const out = process.argv[2] || '.';
fs.writeFileSync(path.join(out, 'agent.pb'), ProtobufTraceSerializer.serializeRequest(spans));
fs.writeFileSync(path.join(out, 'agent.json'), JsonTraceSerializer.serializeRequest(spans));
console.log(`wrote ${spans.length} spans to ${out}`);
