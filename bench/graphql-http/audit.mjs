#!/usr/bin/env node
// GraphQL-over-HTTP compliance audit of the CRM endpoint, using graphql-http's auditServer.
//
//   npm ci --prefix bench/graphql-http
//   node bench/graphql-http/audit.mjs http://127.0.0.1:8000/graphql --key "$CRM_API_KEY"
//
// The URL and key also come from GRAPHQL_URL and CRM_API_KEY. Every request the audit makes
// carries `Authorization: Bearer <key>`: without it the server answers 401 to everything.
//
// Exit status: 0 no MUST failure, 1 at least one MUST failure (or, with --strict, at least one
// SHOULD warning), 2 bad usage or the audit could not run. --json prints one JSON object instead
// of the report: {ok, errors, warnings, notices, results: [{id, name, status, reason?, ...}]}.

import { auditServer } from 'graphql-http';

const USAGE = 'usage: node audit.mjs [URL] [--key KEY] [--json] [--strict]';

function parseArgs(argv) {
  const opts = {
    url: process.env.GRAPHQL_URL,
    key: process.env.CRM_API_KEY,
    json: false,
    strict: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--key') opts.key = argv[++i];
    else if (arg.startsWith('--key=')) opts.key = arg.slice('--key='.length);
    else if (arg === '--json') opts.json = true;
    else if (arg === '--strict') opts.strict = true;
    else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (!arg.startsWith('-') && !opts.url) opts.url = arg;
    else throw new Error(`unexpected argument: ${arg}`);
  }
  if (!opts.url) throw new Error('the GraphQL URL is required (argument or GRAPHQL_URL)');
  if (!opts.key) throw new Error('an API key is required (--key or CRM_API_KEY)');
  return opts;
}

function authorizedFetch(key) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };
}

async function describeResponse(response) {
  if (!response) return '';
  let body = '';
  try {
    body = (await response.clone().text()).slice(0, 200);
  } catch {
    // the audit already consumed the body
  }
  const type = response.headers.get('content-type') ?? '-';
  return `HTTP ${response.status} (${type})${body ? ` ${body}` : ''}`;
}

const LABEL = { ok: 'ok   ', warn: 'WARN ', error: 'ERROR', notice: 'note ' };

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }

  let results;
  try {
    results = await auditServer({ url: opts.url, fetchFn: authorizedFetch(opts.key) });
  } catch (err) {
    console.error(`audit could not run against ${opts.url}: ${err.message ?? err}`);
    return 2;
  }

  const count = (status) => results.filter((r) => r.status === status).length;
  const summary = {
    ok: count('ok'),
    errors: count('error'),
    warnings: count('warn'),
    notices: count('notice'),
  };

  if (opts.json) {
    const detailed = await Promise.all(
      results.map(async ({ id, name, status, reason, response }) =>
        status === 'ok'
          ? { id, name, status }
          : { id, name, status, reason, response: await describeResponse(response) },
      ),
    );
    console.log(JSON.stringify({ url: opts.url, ...summary, results: detailed }, null, 2));
  } else {
    for (const result of results) {
      let line = `${LABEL[result.status] ?? result.status} [${result.id}] ${result.name}`;
      if (result.status !== 'ok') {
        line += `\n        ${result.reason}: ${await describeResponse(result.response)}`;
      }
      console.log(line);
    }
    console.log(
      `\nsummary: ${results.length} audits, ${summary.ok} ok, ` +
        `${summary.errors} MUST failures, ${summary.warnings} SHOULD warnings, ` +
        `${summary.notices} MAY notices`,
    );
  }

  if (summary.errors > 0) return 1;
  if (opts.strict && summary.warnings > 0) return 1;
  return 0;
}

process.exitCode = await main();
