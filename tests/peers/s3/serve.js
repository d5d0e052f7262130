#!/usr/bin/env node
// tests/peers/s3/serve.js: s3rver for Cairn's S3 store tests, with what
// s3rver lacks in front of it.
//
//   node serve.js <dir> <bucket> <access-key> <secret-key>
//
// Prints "READY <s3-port> <credentials-port>" once both listen on 127.0.0.1
// (ports chosen by the system), then serves until stdin closes or SIGTERM.
//
// s3rver 3.7.1 accepts any Signature V4 ("V4 calculation is unimplemented"
// in its authentication middleware); this wrapper checks every V4
// signature itself (Authorization header and presigned query), written from
// AWS's SigV4 documentation, and answers 403 SignatureDoesNotMatch or
// InvalidAccessKeyId as S3 does. The payload hash is signed over but not
// compared with the body (S3 does compare it).
//
// The second port is a credentials fixture: GET /container (the container
// credentials endpoint's JSON), and the IMDSv2 routes PUT /latest/api/token,
// GET /latest/meta-data/iam/security-credentials/[role]. Each answers the
// same key pair; /stats counts the requests so a test can see a refresh,
// and shows the last server-side encryption headers the S3 port saw.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

const [dir, bucket, accessKey, secretKey] = process.argv.slice(2);
if (!dir || !bucket || !accessKey || !secretKey) {
  console.error('usage: serve.js <dir> <bucket> <access-key> <secret-key>');
  process.exit(2);
}
AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
const secrets = new Map([[accessKey, secretKey]]);

const enc = s =>
  encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d, 'utf8').digest();
const sha = d => crypto.createHash('sha256').update(d, 'utf8').digest('hex');

function xmlError(ctx, code, message) {
  ctx.status = 403;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

// The canonical query of the raw query string, without X-Amz-Signature.
function canonicalQuery(raw) {
  if (!raw) return '';
  return raw
    .split('&')
    .filter(p => p.length)
    .map(p => {
      const i = p.indexOf('=');
      const k = decodeURIComponent(i < 0 ? p : p.slice(0, i));
      const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, '%20'));
      return [enc(k), enc(v)];
    })
    .filter(([k]) => k !== 'X-Amz-Signature')
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function verify(ctx) {
  const url = ctx.req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const query = new URLSearchParams(rawQuery);
  const auth = ctx.req.headers['authorization'];
  let credential, signedHeaders, signature, date, payload;
  if (auth && auth.startsWith('AWS4-HMAC-SHA256 ')) {
    const parts = Object.fromEntries(
      auth
        .slice(17)
        .split(',')
        .map(s => s.trim().split('=')),
    );
    credential = parts.Credential;
    signedHeaders = parts.SignedHeaders;
    signature = parts.Signature;
    date = ctx.req.headers['x-amz-date'];
    payload = ctx.req.headers['x-amz-content-sha256'];
  } else if (query.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256') {
    credential = query.get('X-Amz-Credential');
    signedHeaders = query.get('X-Amz-SignedHeaders');
    signature = query.get('X-Amz-Signature');
    date = query.get('X-Amz-Date');
    payload = query.get('X-Amz-Content-Sha256') || 'UNSIGNED-PAYLOAD';
  } else {
    return true; // anonymous or V2: s3rver decides
  }
  if (!credential || !signedHeaders || !signature || !date || !payload) {
    xmlError(ctx, 'AccessDenied', 'Incomplete Signature V4 authentication.');
    return false;
  }
  const [akid, day, region, service, term] = credential.split('/');
  const secret = secrets.get(akid);
  if (!secret) {
    xmlError(ctx, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    return false;
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host')) {
    xmlError(ctx, 'AccessDenied', 'The host header must be signed.');
    return false;
  }
  const headers = names
    .map(n => `${n}:${String(ctx.req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const creq = [ctx.req.method, path, canonicalQuery(rawQuery), headers, signedHeaders, payload].join('\n');
  const sts = ['AWS4-HMAC-SHA256', date, `${day}/${region}/${service}/${term}`, sha(creq)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, day), region), service), 'aws4_request');
  const want = crypto.createHmac('sha256', key).update(sts, 'utf8').digest('hex');
  if (want !== signature) {
    xmlError(
      ctx,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
    return false;
  }
  return true;
}

const stats = { container: 0, token: 0, role: 0, creds: 0, sse: '', kms: '' };
// ?short: credentials that expire in a minute, inside any refresh margin.
function credsJson(short) {
  const expiration = new Date(Date.now() + (short ? 60 : 3600) * 1000).toISOString();
  return JSON.stringify({
    AccessKeyId: accessKey,
    SecretAccessKey: secretKey,
    Token: 'fixture-session-token',
    Expiration: expiration,
  });
}
const credServer = http.createServer((req, res) => {
  const send = (status, body, type = 'application/json') => {
    res.writeHead(status, { 'Content-Type': type });
    res.end(body);
  };
  if (req.method === 'GET' && req.url.startsWith('/container')) {
    stats.container++;
    if (req.headers['authorization'] !== 'fixture-auth-token') return send(401, '{}');
    return send(200, credsJson(req.url.includes('short')));
  }
  if (req.method === 'PUT' && req.url === '/latest/api/token') {
    stats.token++;
    if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return send(400, '');
    return send(200, 'fixture-imds-token', 'text/plain');
  }
  if (req.method === 'GET' && req.url.startsWith('/latest/meta-data/iam/security-credentials/')) {
    if (req.headers['x-aws-ec2-metadata-token'] !== 'fixture-imds-token') return send(401, '');
    const role = req.url.slice('/latest/meta-data/iam/security-credentials/'.length);
    if (!role) {
      stats.role++;
      return send(200, 'fixture-role\n', 'text/plain');
    }
    stats.creds++;
    return role === 'fixture-role' ? send(200, credsJson()) : send(404, '');
  }
  if (req.url === '/stats') return send(200, JSON.stringify(stats));
  send(404, '');
});

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dir,
  serviceEndpoint: 'localhost', // virtual-hosted: <bucket>.s3.localhost
  configureBuckets: [{ name: bucket }],
});
// s3rver has no AbortMultipartUpload (405), and completing an upload that
// is not there crashes it: both answered here as S3 does, from its upload
// folder (<dir>/<bucket>/._S3rver_uploads/<id>).
function uploadDir(ctx) {
  const b = bucketOf(ctx);
  const id = ctx.query.uploadId;
  return /^[0-9a-f]+$/.test(id || '') ? path.join(dir, b, '._S3rver_uploads', id) : null;
}
async function uploads(ctx) {
  if (!('uploadId' in ctx.query) || (ctx.method !== 'DELETE' && ctx.method !== 'POST')) return false;
  const up = uploadDir(ctx);
  if (!up || !fs.existsSync(up)) {
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
    return true;
  }
  if (ctx.method === 'POST') return false;
  fs.rmSync(up, { recursive: true, force: true });
  ctx.status = 204;
  return true;
}
// s3rver's ListObjectsV2 is broken in two ways real S3 is not: a directory
// whose objects all sit in subdirectories never shows as a CommonPrefix, and
// any truncated listing fails (its continuation token uses DES, which the
// OpenSSL 3 of current Node refuses). So listings are answered here, from
// s3rver's folder layout (<dir>/<bucket>/<key dirs>/<name>._S3rver_object),
// with S3's rules: keys in byte order, CommonPrefixes rolled up at the
// delimiter, max-keys counting keys and prefixes together, an opaque
// continuation token.
const OBJECT_SUFFIX = '._S3rver_object';
function allKeys(root) {
  const out = [];
  const walk = (abs, rel) => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      if (e.name === '._S3rver_uploads' || e.name.includes('.cairn-tmp-')) continue;
      if (e.isDirectory()) walk(path.join(abs, e.name), rel + e.name + '/');
      else if (e.name.endsWith(OBJECT_SUFFIX)) {
        const st = fs.statSync(path.join(abs, e.name));
        out.push({ key: rel + e.name.slice(0, -OBJECT_SUFFIX.length), size: st.size, mtime: st.mtime });
      }
    }
  };
  walk(root, '');
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
}
const xmlEscape = s =>
  s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
function listV2(ctx, bucket) {
  const root = path.join(dir, bucket);
  if (!fs.existsSync(root)) return false; // s3rver answers NoSuchBucket
  const q = ctx.query;
  const prefix = q.prefix || '';
  const delim = q.delimiter || '';
  const max = Math.min(1000, q['max-keys'] === undefined ? 1000 : Number(q['max-keys']));
  let after = q['start-after'] || '';
  const continued = !!q['continuation-token'];
  if (continued) after = Buffer.from(q['continuation-token'], 'base64').toString('utf8');
  const gt = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0;
  const items = [];
  let truncated = false;
  for (const o of allKeys(root)) {
    if (!o.key.startsWith(prefix) || (after && !gt(o.key, after))) continue;
    let item = o;
    if (delim) {
      const i = o.key.indexOf(delim, prefix.length);
      if (i >= 0) item = { prefix: o.key.slice(0, i + delim.length) };
    }
    const name = item.prefix || item.key;
    // A token after a common prefix resumes after everything under it.
    if (continued && item.prefix && after.startsWith(item.prefix)) continue;
    if (items.length && items[items.length - 1].prefix && items[items.length - 1].prefix === name) continue;
    if (after && !gt(name, after) && !item.prefix) continue;
    if (items.length === max) {
      truncated = true;
      break;
    }
    items.push(item);
  }
  const last = items.length ? items[items.length - 1].prefix || items[items.length - 1].key : '';
  const contents = items
    .filter(i => !i.prefix)
    .map(
      i =>
        `<Contents><Key>${xmlEscape(i.key)}</Key><LastModified>${i.mtime.toISOString()}</LastModified>` +
        `<Size>${i.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  const prefixes = items
    .filter(i => i.prefix)
    .map(i => `<CommonPrefixes><Prefix>${xmlEscape(i.prefix)}</Prefix></CommonPrefixes>`)
    .join('');
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${items.length}</KeyCount>` +
    `<MaxKeys>${max}</MaxKeys>${delim ? `<Delimiter>${xmlEscape(delim)}</Delimiter>` : ''}` +
    `<IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<NextContinuationToken>${Buffer.from(last).toString('base64')}</NextContinuationToken>` : '') +
    contents + prefixes + '</ListBucketResult>';
  return true;
}
// s3rver writes an object in place, so a reader racing a writer sees a torn
// object; S3 publishes atomically. Objects are written to a temporary name
// here and renamed over the final one once complete.
server.store.putObject = async function putObject(object) {
  const final = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(final), { recursive: true });
  const tmp = `${final}.cairn-tmp-${crypto.randomBytes(8).toString('hex')}`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  await new Promise((resolve, reject) => {
    const out = fs.createWriteStream(tmp);
    out.on('error', reject).on('close', resolve);
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      out.end(object.content);
      return;
    }
    object.content.on('error', reject);
    object.content.on('data', chunk => {
      md5.update(chunk);
      size += chunk.length;
    });
    object.content.pipe(out);
  });
  const digest = md5.digest('hex');
  await fs.promises.rename(tmp, final);
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};

// S3 refuses any Range of an empty object with 416 InvalidRange; s3rver
// answers 206 with a Content-Length of 1 and no body.
function emptyRange(ctx) {
  if (ctx.method !== 'GET' || !ctx.headers['range']) return false;
  const b = bucketOf(ctx);
  const vhost = /^(.+)\.s3\.localhost$/.test(ctx.hostname);
  const key = decodeURIComponent(vhost ? ctx.path.slice(1) : ctx.path.split('/').slice(2).join('/'));
  if (!key) return false;
  try {
    if (fs.statSync(server.store.getResourcePath(b, key, 'object')).size !== 0) return false;
  } catch (e) {
    return false;
  }
  ctx.status = 416;
  ctx.type = 'application/xml';
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>';
  return true;
}

function bucketOf(ctx) {
  const m = /^(.+)\.s3\.localhost$/.exec(ctx.hostname);
  return m ? m[1] : ctx.path.split('/')[1];
}
server.middleware.unshift(async (ctx, next) => {
  if (ctx.headers['x-amz-server-side-encryption']) {
    stats.sse = ctx.headers['x-amz-server-side-encryption'];
    stats.kms = ctx.headers['x-amz-server-side-encryption-aws-kms-key-id'] || '';
  }
  if (!verify(ctx) || (await uploads(ctx)) || emptyRange(ctx)) return;
  const bucketPath = /^(.+)\.s3\.localhost$/.test(ctx.hostname) ? '/' : `/${bucketOf(ctx)}`;
  if (ctx.method === 'GET' && ctx.query['list-type'] === '2' && (ctx.path === bucketPath || ctx.path === bucketPath + '/'))
    if (listV2(ctx, bucketOf(ctx))) return;
  await next();
});
server.on('error', (e, ctx) => {
  if (!ctx || ctx.status >= 500) console.error(`s3rver: ${ctx ? ctx.method + ' ' + ctx.url : ''}: ${e.stack}`);
});

(async () => {
  const addr = await server.run();
  await new Promise(resolve => credServer.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`READY ${addr.port} ${credServer.address().port}\n`);
})().catch(e => {
  console.error(e);
  process.exit(1);
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
