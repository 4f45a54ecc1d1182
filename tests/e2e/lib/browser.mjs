// Starts Debian's Chromium through playwright-core (the test tools' own browser downloads do not
// work here) with everything that phones home switched off, and refuses any request that is not
// for the server under test, so the page is proven to work offline.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const baseUrl = process.env.VIVARIUM_URL ?? 'http://127.0.0.1:8080';
export const apiKey = process.env.VIVARIUM_API_KEY ?? '';

/**
 * @param {{viewport?: {width: number, height: number}, colorScheme?: 'light'|'dark'}} options
 * @returns {Promise<{context, page, foreignRequests: string[], close: () => Promise<void>}>}
 */
export async function openBrowser({ viewport = { width: 1200, height: 800 }, colorScheme = 'light' } = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'vivarium-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    viewport,
    colorScheme,
    acceptDownloads: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-quic', '--disable-sync',
      // Belt and braces: no host name resolves but the loopback address.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  const origin = new URL(baseUrl).origin;
  const foreignRequests = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) {
      return route.continue();
    }
    foreignRequests.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  return {
    context,
    page,
    foreignRequests,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
