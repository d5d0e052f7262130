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
// same key pair; /stats counts the requests so a test can see a refresh.
'use strict';

const crypto = require('crypto');
const http = require('http');
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

const stats = { container: 0, token: 0, role: 0, creds: 0 };
function credsJson() {
  const expiration = new Date(Date.now() + 3600 * 1000).toISOString();
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
  if (req.method === 'GET' && req.url === '/container') {
    stats.container++;
    if (req.headers['authorization'] !== 'fixture-auth-token') return send(401, '{}');
    return send(200, credsJson());
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
server.middleware.unshift(async (ctx, next) => {
  if (verify(ctx)) await next();
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
