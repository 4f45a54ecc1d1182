// Runs the real MCP inspector CLI (@modelcontextprotocol/inspector-cli) once and returns the
// JSON it prints for the method called.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { inspectorCli, pathWithNode22, testsDirectory } from './paths.mjs';

const run = promisify(execFile);

/**
 * @param {string[]} target the server: a URL, or a command and its arguments (stdio)
 * @param {string[]} args --method and its options, --header…
 * @returns {Promise<any>} the parsed result
 */
export async function inspect(target, args) {
  const { stdout } = await run(inspectorCli, ['--cli', ...target, ...args], {
    // inspector-cli 1.0.3 finds its own package.json as "../package.json" from the working
    // directory: run it one level below a folder that has one (tests/mcp/node_modules).
    cwd: path.join(testsDirectory, 'node_modules'),
    env: { ...process.env, PATH: pathWithNode22 },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 180_000,
  }).catch((error) => {
    throw new Error(`inspector-cli failed (${error.code}):\n${error.stdout}\n${error.stderr}`);
  });
  // The CLI prints a deprecation notice on stderr only; stdout is the result.
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

/** The decoded PNG image blocks of a tool result. */
export function pngBlocks(result) {
  return result.content.filter((block) => block.type === 'image' && block.mimeType === 'image/png')
    .map((block) => Buffer.from(block.data, 'base64'));
}
