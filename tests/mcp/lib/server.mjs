// Starts the built `vivarium serve` on 127.0.0.1 with a free port (the server picks it: port 0,
// then its own "Now listening on" line says which), a state directory of its own under /tmp,
// a pool of one sandbox and the given API key. Nothing waits on a timer: the start is over when
// the server says "Application started"; sessions wait for their sandbox by themselves.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { vivariumDll } from './paths.mjs';

/** The longest a start may take before the test fails instead of hanging (a bound, not a wait). */
const START_LIMIT_MS = 120_000;

/**
 * @param {{apiKey: string, args?: string[]}} options
 * @returns {Promise<{url: URL, output: () => string, stop: () => Promise<void>}>}
 */
export async function startServer({ apiKey, args = [] }) {
  const stateDirectory = `/tmp/vivarium-mcp-node-${randomBytes(6).toString('hex')}`;
  const child = spawn(
    'dotnet',
    [
      vivariumDll(),
      'serve',
      '--urls', 'http://127.0.0.1:0',
      `--Vivarium:Sandbox:StateDirectory=${stateDirectory}`,
      '--Vivarium:Pool:Size=1',
      '--Logging:LogLevel:Default=Warning',
      '--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information',
      ...args,
    ],
    { env: { ...process.env, VIVARIUM_API_KEY: apiKey }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = once(child, 'exit');
  const url = await new Promise((resolve, reject) => {
    let listening = null;
    const limit = setTimeout(() => reject(new Error(`the server did not start within ${START_LIMIT_MS} ms:\n${output}`)), START_LIMIT_MS);
    const onData = (chunk) => {
      output += chunk.toString();
      listening ??= /Now listening on: (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? null;
      if (listening && output.includes('Application started')) {
        clearTimeout(limit);
        resolve(new URL(listening));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then(([code]) => {
      clearTimeout(limit);
      reject(new Error(`the server exited with ${code} before it started:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        // SIGTERM is a graceful stop: sessions end and their sandboxes are removed.
        child.kill('SIGTERM');
        await exited;
      }
      await rm(stateDirectory, { recursive: true, force: true });
    },
  };
}
