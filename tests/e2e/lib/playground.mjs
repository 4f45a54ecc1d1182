// Driving the playground page the way a person does: through its controls, never its internals.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiKey, baseUrl } from './browser.mjs';

const screenshotDir = process.env.SCREENSHOT_DIR
  ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots');

/** Opens the page and saves the API key through the key form. */
export async function openPlayground(page) {
  await page.goto(baseUrl);
  if (!(await page.isVisible('#api-key'))) {
    await page.click('#key-panel > summary'); // folded when a key is already saved
  }
  await page.fill('#api-key', apiKey);
  await page.click('#key-form button[type=submit]');
}

/** Starts a session with the header button; returns its id. */
export async function startSession(page) {
  await page.click('#start-session');
  await page.waitForSelector('#session-state[data-state="ready"]');
  return page.getAttribute('#session-meta', 'title');
}

export const sessionId = (page) => page.getAttribute('#session-meta', 'title');

/**
 * Types code into the code cell and runs it with Ctrl+Enter; waits until it has finished.
 * @returns the cell's locator
 */
export async function runCell(page, code, { timeout = 60_000 } = {}) {
  const cells = page.locator('#cells > .cell');
  const index = await cells.count();
  await page.fill('#code', code);
  await page.press('#code', 'Control+Enter');
  const cell = cells.nth(index);
  await cell.waitFor();
  await page.waitForFunction(
    (n) => document.querySelectorAll('#cells > .cell')[n]?.dataset.status !== 'running',
    index, { timeout });
  return cell;
}

/**
 * Drops files onto the page as a drag from the desktop would: dragenter, dragover and drop
 * carrying a DataTransfer with the files.
 * @param {{name: string, type: string, content: Buffer}[]} files
 */
export async function dropFiles(page, selector, files) {
  const dataTransfer = await page.evaluateHandle((list) => {
    const transfer = new DataTransfer();
    for (const file of list) {
      const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], file.name, { type: file.type }));
    }
    return transfer;
  }, files.map((f) => ({ name: f.name, type: f.type, base64: f.content.toString('base64') })));
  for (const type of ['dragenter', 'dragover', 'drop']) {
    await page.dispatchEvent(selector, type, { dataTransfer });
  }
}

/**
 * A request to the server from the test itself. The body is always read: an unread body keeps
 * its connection, and with it this process, alive long after the tests end.
 * @returns {Promise<{status: number, headers: Headers, body: Buffer}>}
 */
export async function request(urlPath, { key } = {}) {
  const response = await fetch(`${baseUrl}${urlPath}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/** The bytes of a file as the API serves it, for comparing with what the browser saved. */
export async function apiFile(session, filePath) {
  const response = await request(`/v1/sessions/${session}/files/${filePath}`, { key: apiKey });
  if (response.status !== 200) {
    throw new Error(`GET ${filePath}: ${response.status}`);
  }
  return response.body;
}

/**
 * A screenshot of the viewport for docs/screenshots, scrolled to `show` (a locator) if given.
 * Transient notices, focus and hover are cleared first, and sandboxed frames (drawn by another
 * process) are given a moment to paint.
 */
export async function screenshot(page, name, { show } = {}) {
  await page.evaluate(() => {
    document.getElementById('notice').hidden = true;
    document.activeElement?.blur();
  });
  await page.mouse.move(0, 0);
  if (show) {
    await show.evaluate((element) => element.scrollIntoView({ block: 'start' }));
  }
  await page.waitForTimeout(400);
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
}
