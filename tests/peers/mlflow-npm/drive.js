// tests/peers/mlflow-npm/drive.js: drive a Cairn server with the `mlflow`
// package from the npm registry (a third-party Node.js MLflow REST client),
// checking every answer. Run by tests/integration/test_npm_client.py:
//   node drive.js http://127.0.0.1:PORT
// The client logs each POST body to stdout itself, so the outcome is one
// line starting with "CAIRN-RESULT " (JSON) for the Python side to cross-check.
'use strict';
const assert = require('node:assert/strict');
const MLflow = require('mlflow');
const { ViewType, RunStatus } = require('mlflow/enum');

const endpoint = process.argv[2];
if (!endpoint) {
	console.error('usage: node drive.js http://host:port');
	process.exit(2);
}
const client = new MLflow({ endpoint });
const { Experiments, Runs, Metrics } = client;

// The client rethrows HTTP errors as Error('Error: {"status":..,"data":..}').
async function failure(promise) {
	try {
		await promise;
	} catch (e) {
		return JSON.parse(String(e.message).replace(/^Error: /, ''));
	}
	assert.fail('expected the call to fail');
}

const tagMap = (tags) => Object.fromEntries((tags || []).map((t) => [t.key, t.value]));

async function main() {
	const result = {};

	// Experiments: create, get, rename; search through the client's own transport
	// (it has no search call of its own, only the long-removed list).
	const { experiment_id } = await Experiments.create({ name: 'npm-exp' });
	assert.match(experiment_id, /^[0-9]+$/);
	let { experiment } = await Experiments.get({ experiment_id });
	assert.equal(experiment.name, 'npm-exp');
	assert.equal(experiment.lifecycle_stage, 'active');
	assert.deepEqual(await Experiments.update({ experiment_id, new_name: 'npm-exp-2' }), {});
	({ experiment } = await Experiments.get({ experiment_id }));
	assert.equal(experiment.name, 'npm-exp-2');
	const found = await Experiments.req('post', '/search', { filter: "name LIKE 'npm-%'" });
	assert.deepEqual(found.experiments.map((e) => e.experiment_id), [experiment_id]);

	// Known client quirks: experiments/list was removed in MLflow 2.0, and
	// setExperimentTag builds ".../experimentsset-experiment-tag" (no slash).
	let f = await failure(Experiments.list());
	assert.equal(f.status, 404);
	assert.equal(f.data.error_code, 'ENDPOINT_NOT_FOUND');
	f = await failure(Experiments.setExperimentTag({ experiment_id, key: 'k', value: 'v' }));
	assert.equal(f.status, 404);

	// Runs: create with tags, params, metrics (single and batched), tags.
	const t0 = 1700000000000;
	const created = await Runs.create({
		experiment_id, user_id: 'node', start_time: t0, tags: [{ key: 'team', value: 'js' }],
	});
	const run_id = created.run.info.run_id;
	assert.match(run_id, /^[0-9a-f]{32}$/);
	assert.equal(created.run.info.user_id, 'node');
	assert.equal(created.run.info.status, 'RUNNING');
	assert.equal(created.run.info.start_time, t0);
	const ctags = tagMap(created.run.data.tags);
	assert.equal(ctags.team, 'js');
	assert.equal(ctags['mlflow.runName'], created.run.info.run_name);

	assert.deepEqual(await Runs.logParameter({ run_id, key: 'lr', value: '0.01' }), {});
	for (let step = 0; step < 5; step++)
		await Runs.logMetric({ run_id, key: 'loss', value: 1 / (step + 1), timestamp: t0 + step, step });
	await Runs.setTag({ run_id, key: 'stage', value: 'train' });
	await Runs.setTag({ run_id, key: 'scratch', value: 'x' });
	await Runs.deleteTag({ run_id, key: 'scratch' });
	const batch = [];
	for (let step = 5; step < 10; step++)
		batch.push({ key: 'loss', value: 1 / (step + 1), timestamp: t0 + step, step });
	batch.push({ key: 'acc', value: 0.75, timestamp: t0, step: 0 });
	assert.deepEqual(await Runs.logBatch({
		run_id, metrics: batch, params: [{ key: 'epochs', value: '10' }],
		tags: [{ key: 'mlflow.note.content', value: 'from node' }],
	}), {});

	// A param is immutable: MLflow's 400 INVALID_PARAMETER_VALUE.
	f = await failure(Runs.logParameter({ run_id, key: 'lr', value: '0.5' }));
	assert.equal(f.status, 400);
	assert.equal(f.data.error_code, 'INVALID_PARAMETER_VALUE');

	// Metric history: every point in step order.
	const hist = await Metrics.getHistory({ run_id, metric_key: 'loss' });
	assert.deepEqual(hist.metrics.map((m) => m.step), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
	assert.deepEqual(hist.metrics.map((m) => m.value), [...Array(10).keys()].map((s) => 1 / (s + 1)));
	assert.equal(hist.metrics[9].timestamp, t0 + 9);

	// The run as stored.
	let { run } = await Runs.get({ run_id });
	assert.deepEqual(tagMap(run.data.params), { lr: '0.01', epochs: '10' });
	const metrics = tagMap(run.data.metrics);
	assert.equal(metrics.loss, 0.1);
	assert.equal(metrics.acc, 0.75);
	const tags = tagMap(run.data.tags);
	assert.equal(tags.stage, 'train');
	assert.equal(tags['mlflow.note.content'], 'from node');
	assert.equal(tags.scratch, undefined);

	// A second run, so searches have something to tell apart.
	const other = (await Runs.create({ experiment_id, user_id: 'node', start_time: t0 + 1 })).run.info.run_id;
	await Runs.logBatch({
		run_id: other, metrics: [{ key: 'loss', value: 2.5, timestamp: t0, step: 0 }],
		params: [{ key: 'lr', value: '0.1' }],
	});
	let s = await Runs.search({
		experiment_ids: [experiment_id], filter: "metrics.loss < 1 and params.lr = '0.01'",
		run_view_type: ViewType.ACTIVE_ONLY, max_results: 10,
	});
	assert.deepEqual(s.runs.map((r) => r.info.run_id), [run_id]);
	s = await Runs.search({ experiment_ids: [experiment_id], order_by: ['metrics.loss DESC'] });
	assert.deepEqual(s.runs.map((r) => r.info.run_id), [other, run_id]);
	// Paging: one run per page, then the next page via the token.
	const p1 = await Runs.search({ experiment_ids: [experiment_id], order_by: ['metrics.loss ASC'], max_results: 1 });
	assert.deepEqual(p1.runs.map((r) => r.info.run_id), [run_id]);
	assert.ok(p1.next_page_token);
	const p2 = await Runs.search({
		experiment_ids: [experiment_id], order_by: ['metrics.loss ASC'], max_results: 1, page_token: p1.next_page_token,
	});
	assert.deepEqual(p2.runs.map((r) => r.info.run_id), [other]);
	f = await failure(Runs.search({ experiment_ids: [experiment_id], filter: 'metrics.loss <<< 1' }));
	assert.equal(f.status, 400);
	assert.equal(f.data.error_code, 'INVALID_PARAMETER_VALUE');

	// Update, delete (soft), restore.
	const upd = await Runs.update({ run_id, status: RunStatus.FINISHED, end_time: t0 + 100 });
	assert.equal(upd.run_info.status, 'FINISHED');
	assert.equal(upd.run_info.end_time, t0 + 100);
	assert.deepEqual(await Runs.delete({ run_id: other }), {});
	({ run } = await Runs.get({ run_id: other }));
	assert.equal(run.info.lifecycle_stage, 'deleted');
	s = await Runs.search({ experiment_ids: [experiment_id], run_view_type: ViewType.DELETED_ONLY });
	assert.deepEqual(s.runs.map((r) => r.info.run_id), [other]);
	s = await Runs.search({ experiment_ids: [experiment_id], run_view_type: ViewType.ACTIVE_ONLY });
	assert.deepEqual(s.runs.map((r) => r.info.run_id), [run_id]);
	f = await failure(Runs.logMetric({ run_id: other, key: 'loss', value: 1, timestamp: t0, step: 1 }));
	assert.equal(f.status, 400);
	await Runs.restore({ run_id: other });
	({ run } = await Runs.get({ run_id: other }));
	assert.equal(run.info.lifecycle_stage, 'active');

	// Unknown run: MLflow's 404.
	f = await failure(Runs.get({ run_id: '0'.repeat(32) }));
	assert.equal(f.status, 404);
	assert.equal(f.data.error_code, 'RESOURCE_DOES_NOT_EXIST');

	// Experiment delete and restore.
	await Experiments.delete({ experiment_id });
	({ experiment } = await Experiments.get({ experiment_id }));
	assert.equal(experiment.lifecycle_stage, 'deleted');
	await Experiments.restore({ experiment_id });
	({ experiment } = await Experiments.get({ experiment_id }));
	assert.equal(experiment.lifecycle_stage, 'active');

	result.experiment_id = experiment_id;
	result.run_id = run_id;
	result.other_run_id = other;
	console.log('CAIRN-RESULT ' + JSON.stringify(result));
}

main().catch((e) => {
	console.error(e && e.stack ? e.stack : e);
	process.exit(1);
});
