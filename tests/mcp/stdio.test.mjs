// `vivarium mcp` over stdio, driven by the real MCP inspector CLI, which starts the built
// command as its subprocess exactly as Claude Desktop would.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect, pngBlocks } from './lib/inspector.mjs';
import { vivariumDll } from './lib/paths.mjs';

const server = ['dotnet', vivariumDll(), 'mcp'];
const tools = ['execute_python', 'upload_file', 'list_files', 'read_file', 'restart_session'];

test('stdio: tools/list offers the five tools, each with a description for the model and a schema', async () => {
  const result = await inspect(server, ['--method', 'tools/list']);
  assert.deepEqual(result.tools.map((tool) => tool.name), tools);
  const execute = result.tools[0];
  assert.match(execute.description, /numpy, pandas, matplotlib/);
  assert.match(execute.description, /no internet/);
  assert.match(execute.description, /\/home\/user/);
  assert.deepEqual(execute.inputSchema.required, ['code']);
  assert.equal(execute.inputSchema.additionalProperties, false);
});

test('stdio: tools/call execute_python returns the output as text and the chart as a PNG image block', async () => {
  const code = 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nprint("squares drawn")\n6 * 7';
  const result = await inspect(server, ['--method', 'tools/call', '--tool-name', 'execute_python', '--tool-arg', `code=${code}`]);
  assert.equal(result.isError, false, JSON.stringify(result));
  assert.equal(result.content[0].type, 'text');
  assert.match(result.content[0].text, /squares drawn/);
  assert.match(result.content[0].text, /42/);
  const images = pngBlocks(result);
  assert.equal(images.length, 1, 'one chart, one image block');
  assert.deepEqual([...images[0].subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
});

test('stdio: a Python error is a tool result with isError and the exception, not a protocol error', async () => {
  const result = await inspect(server, ['--method', 'tools/call', '--tool-name', 'execute_python', '--tool-arg', 'code={}["missing"]']);
  assert.equal(result.isError, true);
  assert.match(result.content[0].text, /KeyError/);
});
