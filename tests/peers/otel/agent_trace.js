// tests/peers/otel/agent_trace.js: an agent-like trace made with the real
// OpenTelemetry SDK (agent -> retriever -> LLM -> tool (fails) -> tool -> LLM),
// with OpenTelemetry GenAI and OpenInference attributes, fixed ids and times
// so that what Cairn stores can be checked exactly.
'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');

// Deterministic ids: trace ids 0x0af7651916cd43dd8448eb211c80319c + n, span ids counting up.
class FixedIds {
  constructor(traceHex) { this.traceHex = traceHex; this.n = 0; }
  generateTraceId() { return this.traceHex; }
  generateSpanId() { this.n += 1; return this.n.toString(16).padStart(16, '0'); }
}

const T0 = 1700000000000; // ms since the epoch

function provider(processors, traceHex, Provider) {
  const P = Provider || BasicTracerProvider;
  return new P({
    resource: resourceFromAttributes({ 'service.name': 'cairn-otel-peer', 'deployment.environment': 'test' }),
    idGenerator: new FixedIds(traceHex || '0af7651916cd43dd8448eb211c80319c'),
    spanProcessors: processors,
  });
}

// Builds the trace on `tracer`; every span is ended before this returns.
function agentTrace(tracer) {
  const ctx = (parent) => api.trace.setSpan(api.context.active(), parent);
  const agent = tracer.startSpan('invoke_agent weather-bot', {
    startTime: T0,
    attributes: {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'weather-bot',
      'gen_ai.input.messages': JSON.stringify([{ role: 'user', content: 'Weather in Paris?' }]),
    },
  });
  const ret = tracer.startSpan('retrieve docs', {
    startTime: T0 + 1,
    attributes: {
      'openinference.span.kind': 'RETRIEVER',
      'input.value': '{"query": "Paris weather"}',
      'output.value': 'two documents',
    },
  }, ctx(agent));
  ret.setStatus({ code: api.SpanStatusCode.OK });
  ret.end(T0 + 5);

  const llm1 = tracer.startSpan('chat gpt-4o', {
    startTime: T0 + 10,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.request.temperature': 0.5,
      'gen_ai.request.stop_sequences': ['\n\n', 'END'],
    },
  }, ctx(agent));
  llm1.addEvent('gen_ai.user.message', { content: 'Weather in Paris?' }, T0 + 11);
  llm1.addEvent('gen_ai.choice', { content: 'call get_weather(Paris)', role: 'assistant' }, T0 + 19);
  llm1.end(T0 + 20);

  const tool1 = tracer.startSpan('execute_tool get_weather', {
    startTime: T0 + 21,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'get_weather',
      'gen_ai.tool.call.arguments': '{"city": "Paris"}',
    },
  }, ctx(agent));
  tool1.recordException({ name: 'TimeoutError', message: 'weather service timed out' }, T0 + 30);
  tool1.setStatus({ code: api.SpanStatusCode.ERROR, message: 'TimeoutError: weather service timed out' });
  tool1.end(T0 + 31);

  const tool2 = tracer.startSpan('execute_tool get_weather', {
    startTime: T0 + 32,
    attributes: {
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'get_weather',
      'gen_ai.tool.call.arguments': '{"city": "Paris"}',
      'gen_ai.tool.call.result': '{"temp_c": 18, "sky": "clear"}',
    },
  }, ctx(agent));
  tool2.setStatus({ code: api.SpanStatusCode.OK });
  tool2.end(T0 + 40);

  const llm2 = tracer.startSpan('chat gpt-4o', {
    startTime: T0 + 41,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o',
      'gen_ai.usage.input_tokens': 30,
      'gen_ai.usage.output_tokens': 9,
      'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', content: 'Clear, 18 C.' }]),
    },
  }, ctx(agent));
  llm2.setStatus({ code: api.SpanStatusCode.OK });
  llm2.end(T0 + 50);

  agent.setAttribute('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', content: 'Clear, 18 C.' }]));
  agent.setStatus({ code: api.SpanStatusCode.OK });
  agent.end(T0 + 60);
}

module.exports = { provider, agentTrace, T0 };
