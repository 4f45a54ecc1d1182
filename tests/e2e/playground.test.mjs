// The playground in a real Chromium against a real server (started by run.sh). The tests run in
// order on one page and one session, as a person would use it: key, session, upload, analysis,
// chart, download, errors, hostile output, restart. Screenshots go to docs/screenshots/.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { apiKey, baseUrl, openBrowser } from './lib/browser.mjs';
import {
  apiFile, dropFiles, openPlayground, request, runCell, screenshot, sessionId, startSession,
} from './lib/playground.mjs';

const SALES_CSV = [
  'region,product,units,price',
  'North,Widget,12,2.50', 'South,Widget,7,2.50', 'North,Gadget,3,10.00', 'East,Gadget,9,10.00',
  'South,Gizmo,15,4.25', 'East,Widget,4,2.50', 'West,Gizmo,8,4.25', 'North,Gizmo,6,4.25',
].join('\n') + '\n';

// Every byte value, then some multi-byte UTF-8: a download that decoded or re-encoded text
// anywhere on the way would not survive the comparison.
const BLOB = Buffer.concat([...Array(64)].map(() => Buffer.from([...Array(256).keys()])).concat(Buffer.from('é✓\n', 'utf8')));

describe('the web playground', () => {
  let browser;
  let page;
  const dialogs = [];
  const pageErrors = [];

  before(async () => {
    browser = await openBrowser();
    page = browser.page;
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      dialog.dismiss().catch(() => {});
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
  });

  test('the page is served at / with a strict Content-Security-Policy', async () => {
    const response = await request('/');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    const csp = response.headers.get('content-security-policy');
    assert.ok(csp, 'a Content-Security-Policy header');
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, "scripts only from the server, none inline");
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    const html = response.body.toString();
    assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)/, 'no absolute URL to anywhere else');
    const script = await request('/js/main.js');
    assert.match(script.headers.get('content-type'), /javascript/);
    assert.equal((await request('/v1/sessions')).status, 401, 'the API still needs a key');
  });

  test('a wrong key is refused with a message that says so', async () => {
    await page.goto(baseUrl);
    assert.ok(await page.isDisabled('#start-session'), 'no key, no session');
    await page.fill('#api-key', 'not-the-key');
    await page.click('#key-form button[type=submit]');
    await page.click('#start-session');
    await page.locator('#alert').waitFor();
    assert.match(await page.textContent('#alert-text'), /refused the API key/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'api-key', 'focus goes to the key');
    await page.click('#alert-close');
    assert.equal(await page.textContent('#session-state'), 'No session');
    await page.click('#forget-key');
    assert.equal(await page.evaluate(() => localStorage.getItem('vivarium.apiKey')), null);
    assert.equal(await page.inputValue('#api-key'), '');
  });

  test('empty state: the key is saved, a session starts and shows its idle countdown', async () => {
    await openPlayground(page);
    assert.equal(await page.evaluate(() => localStorage.getItem('vivarium.apiKey')), apiKey);
    assert.equal(await page.textContent('#session-state'), 'No session');
    const id = await startSession(page);
    assert.match(id, /^ses_/);
    assert.equal(await page.textContent('#session-state'), 'Ready');
    assert.match(await page.textContent('#session-expiry'), /^idle expiry in (19|20):\d\d$/);
    assert.ok(await page.isVisible('#intro'), 'the introduction shows until a cell runs');
    assert.ok(await page.isVisible('text=Session started'));
    await screenshot(page, 'empty');
  });

  test('the code cell: Tab indents, Enter keeps indentation, Escape then Tab leaves, Ctrl+Enter runs', async () => {
    await page.click('#code');
    await page.keyboard.type('for i in range(2):');
    await page.keyboard.press('Enter');
    await page.keyboard.type('print(i)');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.type('x = 1');
    assert.equal(await page.inputValue('#code'), 'for i in range(2):\n    print(i)\nx = 1');
    assert.ok(await page.locator('#code-highlight .tok-keyword', { hasText: 'for' }).count() > 0, 'keywords are coloured');

    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'run', 'focus moved on to the Run button');

    await page.focus('#code');
    await page.keyboard.press('Control+Enter');
    const cell = page.locator('#cells > .cell').last();
    await page.waitForFunction(() => document.querySelector('#cells > .cell:last-of-type')?.dataset.status === 'ok');
    assert.equal(await cell.locator('.out-stream').textContent(), '0\n1\n');
    assert.equal(await page.inputValue('#code'), '', 'the code moved to the history');
    await page.focus('#code');
    await page.keyboard.press('Alt+ArrowUp');
    assert.equal(await page.inputValue('#code'), 'for i in range(2):\n    print(i)\nx = 1', 'Alt+Up recalls it');
    await page.fill('#code', '');
  });

  test('output streams in while the cell is still running', async () => {
    await page.fill('#code', 'import time\nfor i in range(3):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.8)');
    await page.click('#run');
    const seenWhileRunning = await page.waitForFunction(() => {
      const cell = document.querySelector('#cells > .cell:last-of-type');
      return cell?.dataset.status === 'running' && cell.querySelector('.out-stream')?.textContent.includes('tick 0');
    }, null, { timeout: 10_000 });
    assert.ok(await seenWhileRunning.jsonValue());
    assert.equal(await page.textContent('#session-state'), 'Busy');
    assert.ok(await page.isEnabled('#interrupt'));
    await page.waitForFunction(() => document.querySelector('#cells > .cell:last-of-type')?.dataset.status === 'ok');
    assert.equal(await page.locator('#cells > .cell').last().locator('.out-stream').textContent(), 'tick 0\ntick 1\ntick 2\n');
  });

  test('a dropped CSV is uploaded, analysed with pandas, and the table shows in a sandboxed frame', async () => {
    await dropFiles(page, '#dropzone', [{ name: 'sales.csv', type: 'text/csv', content: Buffer.from(SALES_CSV) }]);
    const row = page.locator('#file-list tr[data-path="sales.csv"]');
    await row.waitFor();
    assert.equal(await row.locator('td.num').textContent(), `${SALES_CSV.length} B`);

    const cell = await runCell(page, [
      'import pandas as pd',
      'sales = pd.read_csv("sales.csv")',
      'sales["revenue"] = sales["units"] * sales["price"]',
      'summary = (sales.groupby("region")',
      '           .agg(units=("units", "sum"), revenue=("revenue", "sum"))',
      '           .sort_values("revenue", ascending=False))',
      'summary',
    ].join('\n'));
    assert.equal(await cell.getAttribute('data-status'), 'ok');
    const frame = cell.locator('iframe.out-frame');
    assert.equal(await frame.getAttribute('sandbox'), '', 'sandboxed with no permission at all');
    const content = await (await frame.elementHandle()).contentFrame();
    const firstRow = content.locator('table tbody tr').first();
    assert.equal(await firstRow.locator('th').textContent(), 'East');
    assert.deepEqual(await firstRow.locator('td').allTextContents(), ['13', '100.00']);
    assert.equal(await content.locator('table tbody tr').count(), 4);

    await cell.locator('button.mime[data-mime="text/plain"]').click();
    assert.match(await cell.locator('.out-text').textContent(), /East\s+13\s+100\.00/);
    await cell.locator('button.mime[data-mime="text/html"]').click();
    await cell.locator('iframe.out-frame').waitFor();
    await screenshot(page, 'table', { show: cell });
  });

  test('a chart comes back as an image that decodes', async () => {
    const cell = await runCell(page, [
      'import matplotlib.pyplot as plt',
      'ax = summary["revenue"].plot.bar(figsize=(7, 3.2), color="#2a9d8f", title="Revenue by region")',
      'ax.set_ylabel("revenue")',
      'plt.tight_layout()',
      'plt.savefig("revenue.png")',
      'plt.show()',
    ].join('\n'));
    assert.equal(await cell.getAttribute('data-status'), 'ok');
    const image = cell.locator('img.out-image');
    await image.waitFor();
    await page.waitForFunction((img) => img.complete, await image.elementHandle());
    const size = await image.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
    assert.ok(size[0] > 0 && size[1] > 0, `decoded ${size}`);
    assert.match(await image.getAttribute('src'), /^data:image\/png;base64,/);
    assert.equal(await cell.locator('.file-changes li[data-path="revenue.png"]').getAttribute('data-change'), 'created');
    await screenshot(page, 'chart', { show: cell });
  });

  test('a file the cell produced is announced under it and downloads byte for byte', async () => {
    const cell = await runCell(page, [
      'data = bytes(range(256)) * 64 + "é✓\\n".encode()',
      'with open("blob.bin", "wb") as f:',
      '    f.write(data)',
      'summary.to_csv("summary.csv")',
    ].join('\n'));
    const link = cell.locator('.file-changes li[data-path="blob.bin"] button');
    assert.equal(await link.getAttribute('aria-label'), 'Download blob.bin');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    assert.equal(download.suggestedFilename(), 'blob.bin');
    const saved = await readFile(await download.path());
    assert.ok(saved.equals(BLOB), `downloaded ${saved.length} bytes, expected ${BLOB.length}`);

    // And from the workspace listing, compared with what the API serves.
    const row = page.locator('#file-list tr[data-path="summary.csv"]');
    await row.waitFor();
    const [listed] = await Promise.all([page.waitForEvent('download'), row.locator('button').click()]);
    const expected = await apiFile(await sessionId(page), 'summary.csv');
    assert.ok((await readFile(await listed.path())).equals(expected));
    assert.match(expected.toString(), /^region,units,revenue\nEast,13,100.0\n/);
  });

  test("an error shows the exception first and marks the user's own frames", async () => {
    const cell = await runCell(page, [
      'def monthly(frame):',
      '    return frame["month"]',
      '',
      'monthly(sales)',
    ].join('\n'));
    assert.equal(await cell.getAttribute('data-status'), 'error');
    assert.equal(await cell.locator('.err-name').textContent(), 'KeyError');
    assert.equal(await cell.locator('.err-value').textContent(), "'month'");
    const userFrames = cell.locator('.tb-user');
    assert.equal(await userFrames.count(), 2, 'the call and the function, both in the cell');
    assert.match(await userFrames.nth(1).locator('.tb-current').textContent(), /return frame\["month"\]/);
    assert.ok(await cell.locator('details.tb-libraries').count() > 0, "pandas' frames are folded away");
    assert.equal(await cell.locator('details.tb-libraries[open]').count(), 0);
    await screenshot(page, 'error', { show: cell });
  });

  test('Markdown, LaTeX and long output render as they should', async () => {
    const cell = await runCell(page, [
      'from IPython.display import Markdown, Latex, display',
      'display(Markdown("## Findings\\n\\n* **East** leads\\n* see [the docs](https://example.org)\\n\\n| a | b |\\n|---|--:|\\n| 1 | 2 |"))',
      'display(Latex(r"$\\sum_i x_i$"))',
      'for i in range(200):',
      '    print("line", i)',
    ].join('\n'));
    assert.equal(await cell.locator('.markdown h2').textContent(), 'Findings');
    assert.equal(await cell.locator('.markdown li strong').textContent(), 'East');
    assert.equal(await cell.locator('.markdown a').getAttribute('href'), 'https://example.org');
    assert.equal(await cell.locator('.markdown td').last().textContent(), '2');
    assert.equal(await cell.locator('.out-latex').textContent(), '$\\sum_i x_i$');
    const fold = cell.locator('.foldable').last();
    assert.ok(await fold.evaluate((el) => el.classList.contains('folded')));
    const toggle = fold.locator('button.fold-toggle');
    assert.equal(await toggle.textContent(), 'Show all (200 lines)');
    await toggle.click();
    assert.ok(!(await fold.evaluate((el) => el.classList.contains('folded'))));
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  });

  test('the Markdown renderer makes only inert elements, whatever the source', async () => {
    const result = await page.evaluate(async () => {
      const { renderMarkdown } = await import('/js/markdown.js');
      const pixel = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
      const root = renderMarkdown([
        '# <img src=x onerror=alert(1)>',
        '[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html,<script>alert(1)</script>) [d](https://ok.example)',
        `![remote](http://tracker.example/p.png) ![svg](data:image/svg+xml,<svg onload=alert(1)>) ![inline](${pixel})`,
        '`<script>alert(1)</script>` and **bold _nested_**',
        '```html', '<script>alert(1)</script>', '```',
        '> <iframe src="javascript:alert(1)"></iframe>',
        '| <b>x</b> | y |', '|---|---|', '| <svg onload=alert(1)> | 2 |',
      ].join('\n'));
      const tags = new Set([...root.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()));
      const attributes = new Set([...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)));
      return {
        tags: [...tags].sort(),
        attributes: [...attributes].sort(),
        links: [...root.querySelectorAll('a')].map((a) => a.href),
        images: [...root.querySelectorAll('img')].map((img) => img.src.slice(0, 22)),
        heading: root.querySelector('h1').textContent,
      };
    });
    assert.deepEqual(result.tags, ['a', 'blockquote', 'code', 'div', 'em', 'h1', 'img', 'p', 'pre', 'strong', 'table', 'tbody', 'td', 'th', 'thead', 'tr']);
    assert.deepEqual(result.attributes, ['alt', 'class', 'href', 'rel', 'src', 'target'], 'no event handler, no style');
    assert.deepEqual(result.links, ['https://ok.example/']);
    assert.deepEqual(result.images, ['data:image/png;base64,']);
    assert.equal(result.heading, '<img src=x onerror=alert(1)>');
  });

  test('hostile HTML, Markdown, SVG and JavaScript outputs cannot run script anywhere', async () => {
    const titleBefore = await page.title();
    await page.evaluate(() => {
      document.body.dataset.sentinel = 'intact';
      // Record anything that could execute appearing in the page itself (outside output frames).
      window.__suspicious = [];
      new MutationObserver((records) => {
        for (const record of records) {
          const nodes = record.type === 'attributes' ? [record.target] : [...record.addedNodes];
          for (const node of nodes) {
            if (node.nodeType !== 1) {
              continue;
            }
            for (const element of [node, ...node.querySelectorAll('*')]) {
              const risky = element.tagName === 'SCRIPT'
                || element.tagName === 'OBJECT' || element.tagName === 'EMBED'
                || (element.tagName === 'IFRAME' && element.getAttribute('sandbox') !== '')
                || [...element.attributes].some((a) => a.name.startsWith('on'))
                || (element.tagName === 'A' && /^\s*javascript:/i.test(element.getAttribute('href') ?? ''))
                || (element.tagName === 'IMG' && !element.src.startsWith('data:') && !element.src.endsWith('/favicon.svg'));
              if (risky) {
                window.__suspicious.push(element.outerHTML.slice(0, 200));
              }
            }
          }
        }
      }).observe(document, { subtree: true, childList: true, attributes: true });
    });

    const cell = await runCell(page, [
      'from IPython.display import HTML, Markdown, SVG, Javascript, display',
      // The payload from the issue, verbatim.
      `display(HTML('<img src=x onerror="parent.document.title=\\'pwned\\'"><script>parent.document.body.innerHTML=\\'x\\'</script>'))`,
      // Script inside the frame that would only touch its own document, so an opaque origin alone would not stop it.
      `display(HTML('<p id="inside">inside the frame</p><script>document.body.dataset.ran = "script"</script><img src=x onerror="document.body.dataset.ran = \\'onerror\\'"><img src=x onerror="alert(1)">'))`,
      `display(Markdown('**md** <script>parent.document.title = "pwned-md"</script> <img src=x onerror="alert(2)"> [click](javascript:alert(3))'))`,
      `display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" onload="alert(4)"><script>alert(5)</script><rect width="24" height="24" fill="red"/></svg>'))`,
      `display(Javascript('alert(6); document.title = "pwned-js"'))`,
      // Ways to make the browser fetch from elsewhere without script: the frame inherits the
      // page's policy, so none may leave (checked by the last test of this suite).
      `display(HTML('<img src="http://tracker.example/pixel.gif"><div style="background:url(http://tracker.example/bg.png)">bg</div><link rel="stylesheet" href="http://tracker.example/x.css"><meta http-equiv="refresh" content="0;url=http://tracker.example/">'))`,
    ].join('\n'));
    assert.equal(await cell.getAttribute('data-status'), 'ok');
    await page.waitForTimeout(1500); // time for any handler that might fire

    assert.deepEqual(dialogs, [], 'no dialog opened');
    assert.equal(await page.title(), titleBefore, 'the title is unchanged');
    assert.equal(await page.evaluate(() => document.body.dataset.sentinel), 'intact');
    assert.ok(await page.isVisible('#cell-form'), 'the page was not replaced');
    assert.deepEqual(await page.evaluate(() => window.__suspicious), [], 'nothing executable entered the page');
    assert.equal(await page.evaluate(() => document.scripts.length), 2, 'only the page\'s own two scripts');

    const frames = cell.locator('iframe.out-frame');
    assert.equal(await frames.count(), 3);
    for (const handle of await frames.elementHandles()) {
      assert.equal(await handle.getAttribute('sandbox'), '');
      assert.equal(await handle.evaluate((f) => f.contentDocument), null, 'the frame is another origin to the page');
    }
    const inside = await (await frames.nth(1).elementHandle()).contentFrame();
    assert.equal(await inside.locator('#inside').textContent(), 'inside the frame', 'the HTML is rendered');
    assert.equal(await inside.evaluate(() => document.body.dataset.ran ?? null), null, 'but its scripts did not run');

    const markdown = cell.locator('.markdown');
    assert.match(await markdown.textContent(), /<script>parent\.document\.title = "pwned-md"<\/script>/, 'markup shows as text');
    assert.equal(await markdown.locator('a').count(), 0, 'a javascript: link is not a link');
    const svg = cell.locator('img.out-image[src^="data:image/svg+xml"]');
    assert.ok(await svg.evaluate((img) => img.complete && img.naturalWidth > 0), 'the SVG shows as an image');
    assert.match(await cell.locator('.out-labelled').last().textContent(), /not run in the playground/);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(browser.foreignRequests, [], 'no request left for another host');
  });

  test('restart clears the variables but keeps the files', async () => {
    await runCell(page, 'answer = 42');
    await page.click('#restart-session');
    await page.locator('.divider', { hasText: 'Interpreter restarted' }).waitFor();
    await page.waitForSelector('#session-state[data-state="ready"]');

    const lost = await runCell(page, 'answer');
    assert.equal(await lost.getAttribute('data-status'), 'error');
    assert.equal(await lost.locator('.err-name').textContent(), 'NameError');
    assert.equal(await lost.getAttribute('data-execution-count'), '1', 'a fresh interpreter counts from 1');

    const kept = await runCell(page, 'import os\nsorted(os.listdir("."))');
    assert.match(await kept.locator('.out-text').textContent(), /'blob\.bin', 'revenue\.png', 'sales\.csv', 'summary\.csv'/);
    await page.locator('#file-list tr[data-path="sales.csv"]').waitFor();
  });

  test('a running cell can be interrupted; a cell can be collapsed', async () => {
    await page.fill('#code', 'import time\ntime.sleep(20)');
    await page.click('#run');
    await page.waitForSelector('#session-state[data-state="busy"]');
    await page.click('#interrupt');
    await page.waitForFunction(() => document.querySelector('#cells > .cell:last-of-type')?.dataset.status === 'interrupted');
    const cell = page.locator('#cells > .cell').last();
    assert.equal(await cell.locator('.err-name').textContent(), 'KeyboardInterrupt');

    await cell.locator('summary.cell-summary').click();
    assert.equal(await cell.locator('details.cell-details').evaluate((d) => d.open), false);
    assert.ok(!(await cell.locator('.cell-code').isVisible()));
    assert.match(await cell.locator('.cell-title').textContent(), /import time/);
  });

  test('a reload reattaches to the session', async () => {
    const id = await sessionId(page);
    await page.reload();
    await page.locator('.divider', { hasText: 'Reattached' }).waitFor();
    assert.equal(await sessionId(page), id);
    assert.equal(await page.inputValue('#api-key'), apiKey, 'the key came back from local storage');
  });

  test('the theme follows the toggle and survives a reload', async () => {
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await background();
    await page.click('#theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await page.getAttribute('#theme-toggle', 'aria-pressed'), 'true');
    assert.notEqual(await background(), light);
    await page.reload();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await page.click('#theme-toggle');
    assert.equal(await background(), light);
  });

  test('ending the session removes it', async () => {
    const id = await sessionId(page);
    await page.click('#end-session');
    await page.locator('.divider', { hasText: 'Session ended' }).waitFor();
    assert.equal(await page.textContent('#session-state'), 'No session');
    assert.equal((await request(`/v1/sessions/${id}`, { key: apiKey })).status, 404);
  });

  test('no request went anywhere but the server under test', () => {
    assert.deepEqual(browser.foreignRequests, []);
  });
});

describe('the playground on a phone, in the dark theme', () => {
  test('fits the screen and runs a cell', async () => {
    const phone = await openBrowser({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    try {
      const { page } = phone;
      await openPlayground(page);
      await page.click('[data-example="table"]');
      await page.press('#code', 'Control+Enter');
      await page.waitForFunction(() => document.querySelector('#cells > .cell')?.dataset.status === 'ok');
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true, 'no sideways scrolling');
      assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(13, 17, 23)', 'dark, as the system prefers');
      await screenshot(page, 'phone-dark', { show: page.locator('#cells > .cell').first() });
      await page.click('#end-session');
      await page.locator('.divider', { hasText: 'Session ended' }).waitFor();
      assert.deepEqual(phone.foreignRequests, []);
    } finally {
      await phone.close();
    }
  });
});
