// /mcp on a real `vivarium serve` (127.0.0.1, a free port, a temporary state directory, a
// pool of one, VIVARIUM_API_KEY set), driven by the real MCP inspector CLI and by the MCP
// conformance suite.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { startAuthProxy } from './lib/auth-proxy.mjs';
import { inspect, pngBlocks } from './lib/inspector.mjs';
import { conformanceCli, node22, testsDirectory } from './lib/paths.mjs';
import { startServer } from './lib/server.mjs';

const apiKey = 'mcp-node-tests-key';
const authorization = ['--header', `Authorization: Bearer ${apiKey}`];
let server;

before(async () => {
  server = await startServer({ apiKey });
});

after(async () => {
  await server?.stop();
});

const endpoint = () => new URL('/mcp', server.url).href;

/** A raw POST of an initialize request, with the headers given (fetch may not set Host). */
function postInitialize(headers) {
  const body = JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'vivarium-tests', version: '1.0.0' } },
  });
  return new Promise((resolve, reject) => {
    const request = http.request(endpoint(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    }, (response) => {
      let text = '';
      response.on('data', (chunk) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

test('http: tools/list with the API key', async () => {
  const result = await inspect([endpoint(), '--transport', 'http'], [...authorization, '--method', 'tools/list']);
  assert.deepEqual(result.tools.map((tool) => tool.name), ['execute_python', 'upload_file', 'list_files', 'read_file', 'restart_session']);
});

test('http: tools/call execute_python returns the output as text and the chart as a PNG image block', async () => {
  const code = 'import matplotlib.pyplot as plt\nimport numpy as np\nplt.plot(np.arange(5) ** 2)\nprint("parabola drawn")';
  const result = await inspect([endpoint(), '--transport', 'http'],
    [...authorization, '--method', 'tools/call', '--tool-name', 'execute_python', '--tool-arg', `code=${code}`]);
  assert.equal(result.isError, false, JSON.stringify(result));
  assert.match(result.content[0].text, /parabola drawn/);
  const images = pngBlocks(result);
  assert.equal(images.length, 1);
  assert.equal(images[0].subarray(1, 4).toString('latin1'), 'PNG');
});

test('http: without an API key /mcp answers 401, as the REST API does', async () => {
  const { status } = await postInitialize({});
  assert.equal(status, 401);
});

test('http: a Host or Origin that is not loopback is refused with 403 (DNS rebinding)', async () => {
  const auth = { authorization: `Bearer ${apiKey}` };
  assert.equal((await postInitialize({ ...auth, host: 'evil.example.com' })).status, 403);
  assert.equal((await postInitialize({ ...auth, origin: 'http://evil.example.com' })).status, 403);
  const allowed = await postInitialize({ ...auth, origin: `http://${server.url.host}` });
  assert.equal(allowed.status, 200, allowed.text);
});

test('http: progress notifications carry the output while code runs; notifications/cancelled interrupts it and keeps the state', async () => {
  // The official TypeScript client: on abort it sends notifications/cancelled, as the spec asks.
  const client = new Client({ name: 'vivarium-tests', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint()), {
    requestInit: { headers: { Authorization: `Bearer ${apiKey}` } },
  });
  await client.connect(transport);
  try {
    const abort = new AbortController();
    const progress = [];
    // A timeout far beyond the sleep: only the cancellation can stop this code early.
    const call = client.callTool(
      { name: 'execute_python', arguments: { code: "x = 41\nimport time\nprint('started', flush=True)\ntime.sleep(120)\nfinished = True", timeout_seconds: 300 } },
      CallToolResultSchema,
      {
        signal: abort.signal,
        timeout: 300_000,
        onprogress: (notification) => {
          progress.push(notification);
          if (notification.message?.includes('started')) {
            abort.abort('the test has seen enough');
          }
        },
      },
    );
    await assert.rejects(call);
    assert.ok(progress.length >= 1);
    // Runs once the interrupted call has finished: x survived, the rest of the code never ran.
    const after = await client.callTool({ name: 'execute_python', arguments: { code: "x + 1, 'finished' in globals()" } });
    assert.equal(after.isError, false, JSON.stringify(after));
    assert.match(after.content[0].text, /\(42, False\)/);
  } finally {
    await transport.terminateSession();
    await client.close();
  }
});

test('conformance: every server scenario passes except those that need fixture tools, resources or prompts', async () => {
  // The conformance CLI cannot send headers; a loopback proxy adds the API key and passes
  // Host and Origin through untouched, so /mcp keeps requiring the key during the run.
  const proxy = await startAuthProxy(server.url, apiKey);
  const results = await mkdtemp('/tmp/vivarium-conformance-');
  try {
    const run = await promisify(execFile)(node22, [
      conformanceCli, 'server',
      '--url', new URL('/mcp', proxy.url).href,
      '--suite', 'all',
      '--expected-failures', path.join(testsDirectory, 'conformance-expected-failures.yml'),
      '--output-dir', results,
    ], { maxBuffer: 64 * 1024 * 1024, timeout: 300_000 }).catch((error) => {
      throw new Error(`conformance failed (exit ${error.code}):\n${error.stdout}\n${error.stderr}`);
    });
    const summary = run.stdout.slice(run.stdout.indexOf('=== SUMMARY ==='));
    console.log(summary);
    assert.match(summary, /✓ dns-rebinding-protection: 2 passed, 0 failed/);
    assert.match(summary, /✓ server-initialize/);
    assert.match(summary, /✓ tools-list/);
    assert.match(summary, /Baseline check passed/);
  } finally {
    await proxy.close();
    await rm(results, { recursive: true, force: true });
  }
});
