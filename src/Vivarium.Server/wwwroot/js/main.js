// The playground page: wires the API key, the session, the code cell, the history and the
// workspace files together. One session at a time; its id is remembered so a reload reattaches.

import { VivariumApi, ApiError } from './api.js';
import { CodeEditor } from './editor.js';
import { CellView } from './cells.js';
import { saveBlob, setFrameTheme } from './render.js';
import { formatBytes, formatCountdown } from './format.js';

const KEY_STORAGE = 'vivarium.apiKey';
const SESSION_STORAGE = 'vivarium.sessionId';
const THEME_STORAGE = 'vivarium.theme';
const SESSION_POLL_MS = 30_000;

const $ = (id) => document.getElementById(id);

const storage = {
  get(name) {
    try {
      return localStorage.getItem(name) ?? '';
    } catch {
      return '';
    }
  },
  set(name, value) {
    try {
      if (value) {
        localStorage.setItem(name, value);
      } else {
        localStorage.removeItem(name);
      }
    } catch {
      // Private modes may refuse storage; the page still works for this visit.
    }
  },
};

const state = {
  key: storage.get(KEY_STORAGE),
  session: null, // the Session as the server last described it
  skewMs: 0, // server clock minus local clock
  pending: false, // a session call (start, restart, end) is under way
  running: null, // { cell, sessionId }
  lastPoll: 0,
};

const api = new VivariumApi(() => state.key);

// ---------------------------------------------------------------------------------------------
// Notices
// ---------------------------------------------------------------------------------------------

let noticeTimer = 0;

function notify(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    notice.hidden = true;
  }, 6000);
}

/** For screen readers only: a cell's end would be noise on screen, where the cell shows it. */
function announce(text) {
  $('announcer').textContent = text;
}

function alertError(text) {
  $('alert-text').textContent = text;
  $('alert').hidden = false;
}

function explain(error) {
  if (error instanceof ApiError) {
    switch (error.code) {
      case 'unauthorized':
        return 'The server refused the API key. Check it in the API key panel.';
      case 'session_limit_reached':
        return `No more sessions allowed for this key: ${error.message}`;
      case 'rate_limited':
        return `Too many executions: ${error.message}`;
      default:
        return error.message;
    }
  }
  return error instanceof TypeError ? 'The server could not be reached.' : error.message;
}

function fail(error) {
  alertError(explain(error));
  if (error instanceof ApiError && error.code === 'unauthorized') {
    $('key-panel').open = true;
    $('api-key').focus();
  }
}

// ---------------------------------------------------------------------------------------------
// Theme
// ---------------------------------------------------------------------------------------------

const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');

function currentTheme() {
  return document.documentElement.dataset.theme || (darkQuery.matches ? 'dark' : 'light');
}

function applyTheme() {
  const theme = currentTheme();
  const toggle = $('theme-toggle');
  toggle.setAttribute('aria-pressed', String(theme === 'dark'));
  toggle.title = theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme';
  setFrameTheme(theme);
}

function initTheme() {
  $('theme-toggle').addEventListener('click', () => {
    const next = currentTheme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    storage.set(THEME_STORAGE, next);
    applyTheme();
  });
  darkQuery.addEventListener('change', () => {
    if (!document.documentElement.dataset.theme) {
      applyTheme();
    }
  });
  applyTheme();
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

function setSession(result) {
  state.session = result?.session ?? null;
  state.skewMs = result?.skewMs ?? 0;
  state.lastPoll = Date.now();
  storage.set(SESSION_STORAGE, state.session?.id ?? '');
  render();
}

function divider(text) {
  const note = document.createElement('p');
  note.className = 'divider';
  note.textContent = text;
  $('cells').append(note);
  render();
}

async function startSession() {
  if (!state.key) {
    alertError('Enter an API key first.');
    $('key-panel').open = true;
    $('api-key').focus();
    return false;
  }
  state.pending = true;
  render();
  try {
    const result = await api.createSession();
    setSession(result);
    divider(`Session started · Python ${result.session.python_version ?? ''}`.trim());
    refreshFiles();
    return true;
  } catch (error) {
    fail(error);
    return false;
  } finally {
    state.pending = false;
    render();
  }
}

async function restartSession() {
  const id = state.session?.id;
  if (!id) {
    return;
  }
  state.pending = true;
  render();
  try {
    setSession(await api.restartSession(id));
    divider('Interpreter restarted: variables cleared, files kept');
    refreshFiles();
  } catch (error) {
    handleSessionError(error);
  } finally {
    state.pending = false;
    render();
  }
}

async function endSession() {
  const id = state.session?.id;
  if (!id) {
    return;
  }
  state.pending = true;
  render();
  try {
    await api.deleteSession(id);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'session_not_found')) {
      state.pending = false;
      render();
      fail(error);
      return;
    }
  }
  state.pending = false;
  sessionGone('Session ended: its files are deleted');
}

function sessionGone(text) {
  setSession(null);
  showFiles([]);
  divider(text);
}

function handleSessionError(error) {
  if (error instanceof ApiError && error.code === 'session_not_found') {
    sessionGone('The session is gone (it expired after being idle, or the server restarted)');
  } else {
    fail(error);
  }
}

/** Reads the session again: its expiry moves with activity, and it may have been reaped. */
async function refreshSession() {
  const id = state.session?.id;
  if (!id) {
    return;
  }
  state.lastPoll = Date.now();
  try {
    const result = await api.getSession(id);
    if (state.session?.id === id) {
      setSession(result);
    }
  } catch (error) {
    if (state.session?.id === id) {
      handleSessionError(error);
    }
  }
}

async function reattach() {
  const id = storage.get(SESSION_STORAGE);
  if (!id || !state.key) {
    return;
  }
  try {
    setSession(await api.getSession(id));
    divider('Reattached to the session from the last visit (its earlier cells are not shown)');
    refreshFiles();
  } catch {
    storage.set(SESSION_STORAGE, '');
  }
}

// ---------------------------------------------------------------------------------------------
// Running code
// ---------------------------------------------------------------------------------------------

let editor;

// While a cell runs, the page follows its output the way a terminal does, unless the reader
// has scrolled up to look at something else.
let followOutput = true;
const atBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
const scrollToBottom = () => window.scrollTo({ top: document.documentElement.scrollHeight });

function initFollow() {
  window.addEventListener('scroll', () => {
    followOutput = atBottom();
  }, { passive: true });
  new ResizeObserver(() => {
    if (state.running && followOutput) {
      scrollToBottom();
    }
  }).observe($('cells'));
}

async function run() {
  const code = editor.value;
  if (state.running || state.pending || !code.trim()) {
    return;
  }
  if (!state.session && !(await startSession())) {
    return;
  }
  const sessionId = state.session.id;
  const cell = new CellView(code, { onEdit: editCode, onDownload: download });
  $('cells').append(cell.el);
  state.running = { cell, sessionId };
  editor.remember(code);
  editor.value = '';
  render();
  followOutput = true;
  scrollToBottom();

  let ranOrUnknown = true;
  try {
    const execution = await api.execute(sessionId, code, (name, data) => cell.onEvent(name, data));
    cell.finish(execution);
    announce(`Cell ${execution.execution_count ?? ''} finished: ${execution.status}`);
    if ((execution.files ?? []).length > 0) {
      refreshFiles();
    }
  } catch (error) {
    // Refused before it started (busy, rate limited, gone): the code goes back to the cell.
    ranOrUnknown = !(error instanceof ApiError);
    cell.fail(new Error(explain(error)));
    if (!ranOrUnknown && !editor.value) {
      editor.value = code;
    }
    if (error instanceof ApiError && error.code === 'session_not_found') {
      handleSessionError(error);
    }
  } finally {
    state.running = null;
    render();
    refreshSession();
  }
}

async function interrupt() {
  const id = state.running?.sessionId;
  if (!id) {
    return;
  }
  try {
    await api.interrupt(id);
  } catch (error) {
    fail(error);
  }
}

function editCode(code) {
  editor.value = code;
  editor.focus();
  $('cell-form').scrollIntoView({ block: 'nearest' });
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

async function download(path) {
  const id = state.session?.id;
  if (!id) {
    alertError('The session has ended, and its files with it.');
    return;
  }
  try {
    const blob = await api.downloadFile(id, path);
    saveBlob(blob, path.split('/').pop() || 'download');
  } catch (error) {
    handleSessionError(error);
  }
}

function showFiles(files) {
  const list = $('file-list');
  list.replaceChildren();
  for (const file of files.toSorted((a, b) => a.path.localeCompare(b.path))) {
    const row = document.createElement('tr');
    row.dataset.path = file.path;
    const name = document.createElement('td');
    name.className = 'file-name';
    name.textContent = file.path;
    name.title = file.path;
    const size = document.createElement('td');
    size.className = 'num';
    size.textContent = formatBytes(file.size);
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link-button';
    button.textContent = 'Download';
    button.setAttribute('aria-label', `Download ${file.path}`);
    button.addEventListener('click', () => download(file.path));
    action.append(button);
    row.append(name, size, action);
    list.append(row);
  }
  $('file-table').hidden = files.length === 0;
  $('files-empty').hidden = files.length > 0;
  $('files-empty').textContent = state.session ? 'No files yet.' : 'Files appear here once a session is started.';
}

async function refreshFiles() {
  const id = state.session?.id;
  if (!id) {
    showFiles([]);
    return;
  }
  try {
    const files = await api.listFiles(id);
    if (state.session?.id === id) {
      showFiles(files);
    }
  } catch (error) {
    handleSessionError(error);
  }
}

async function upload(files) {
  if (files.length === 0) {
    return;
  }
  if (!state.session && !(await startSession())) {
    return;
  }
  try {
    const written = await api.uploadFiles(state.session.id, files);
    notify(`Uploaded ${written.map((file) => `${file.path} (${formatBytes(file.size)})`).join(', ')}`);
  } catch (error) {
    handleSessionError(error);
  }
  refreshFiles();
}

function initDrop() {
  const overlay = $('drop-overlay');
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragenter', (event) => {
    if (hasFiles(event)) {
      depth++;
      overlay.hidden = false;
    }
  });
  document.addEventListener('dragleave', (event) => {
    if (hasFiles(event) && --depth <= 0) {
      depth = 0;
      overlay.hidden = true;
    }
  });
  document.addEventListener('dragover', (event) => {
    if (hasFiles(event)) {
      event.preventDefault(); // marks the page as a drop target
      event.dataTransfer.dropEffect = 'copy';
    }
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) {
      return;
    }
    event.preventDefault(); // otherwise the browser opens the file
    depth = 0;
    overlay.hidden = true;
    upload([...event.dataTransfer.files]);
  });
  $('choose-files').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', (event) => {
    upload([...event.target.files]);
    event.target.value = '';
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering the page's state
// ---------------------------------------------------------------------------------------------

function render() {
  const session = state.session;
  const running = state.running !== null;
  const stateLabel = $('session-state');
  let label = 'No session';
  let key = 'none';
  if (state.pending) {
    label = 'Working…';
    key = 'pending';
  } else if (session) {
    key = running || session.status === 'busy' ? 'busy' : 'ready';
    label = key === 'busy' ? 'Busy' : 'Ready';
  }
  stateLabel.textContent = label;
  stateLabel.dataset.state = key;
  $('session-meta').textContent = session ? `${session.id.slice(0, 12)}… · ${session.execution_count} run${session.execution_count === 1 ? '' : 's'}` : '';
  $('session-meta').title = session?.id ?? '';
  renderExpiry();

  $('start-session').hidden = Boolean(session);
  $('start-session').disabled = state.pending || !state.key;
  $('restart-session').disabled = !session || state.pending;
  $('end-session').disabled = !session || state.pending;
  $('run').disabled = running || state.pending;
  $('interrupt').disabled = !running;
  $('intro').hidden = $('cells').querySelector('.cell') !== null;

  const saved = Boolean(state.key);
  $('key-summary').textContent = saved ? 'saved in this browser' : 'needed to start';
  $('forget-key').hidden = !saved;
}

function renderExpiry() {
  const expiry = $('session-expiry');
  const session = state.session;
  if (!session) {
    expiry.textContent = '';
    return;
  }
  if (state.running) {
    expiry.textContent = 'running';
    expiry.dataset.low = 'false';
    return;
  }
  const left = Date.parse(session.expires_at) - (Date.now() + state.skewMs);
  expiry.textContent = left > 0 ? `idle expiry in ${formatCountdown(left)}` : 'expiring…';
  expiry.dataset.low = String(left < 60_000);
  expiry.title = `Ends at ${new Date(Date.parse(session.expires_at) - state.skewMs).toLocaleTimeString()} unless used before`;
}

function tick() {
  state.running?.cell.tick();
  renderExpiry();
  const session = state.session;
  if (!session || state.running || document.hidden) {
    return;
  }
  const left = Date.parse(session.expires_at) - (Date.now() + state.skewMs);
  const sincePoll = Date.now() - state.lastPoll;
  // Past the deadline the reaper ends the session within seconds: look again soon.
  if (sincePoll > SESSION_POLL_MS || (left <= 0 && sincePoll > 5000)) {
    refreshSession();
  }
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

const EXAMPLES = {
  table: `import pandas as pd

df = pd.DataFrame({
    "city": ["Oslo", "Lima", "Pune", "Perth"],
    "temp_c": [4.5, 19.0, 31.2, 24.8],
    "rain_mm": [76, 1, 12, 45],
})
df.sort_values("temp_c", ascending=False)`,
  chart: `import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 4 * np.pi, 300)
plt.figure(figsize=(7, 3.5))
plt.plot(x, np.sin(x), label="sin")
plt.plot(x, np.cos(x), label="cos")
plt.legend(); plt.title("Two waves")
plt.show()`,
  stream: `import time

for step in range(5):
    print(f"step {step}", flush=True)
    time.sleep(0.5)`,
  file: `with open("hello.txt", "w") as f:
    f.write("Hello from the sandbox\\n")
print(open("hello.txt").read())`,
};

function init() {
  initTheme();
  editor = new CodeEditor($('code'), $('code-highlight'), { onRun: run });
  $('cell-form').addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  $('interrupt').addEventListener('click', interrupt);
  // The buttons pressed hide or disable themselves, so focus moves on to what comes next
  // instead of falling back to the top of the page.
  $('start-session').addEventListener('click', async () => {
    if (await startSession()) {
      editor.focus();
    }
  });
  $('restart-session').addEventListener('click', restartSession);
  $('end-session').addEventListener('click', async () => {
    await endSession();
    if (!state.session) {
      $('start-session').focus();
    }
  });
  $('refresh-files').addEventListener('click', refreshFiles);
  $('alert-close').addEventListener('click', () => {
    $('alert').hidden = true;
  });
  for (const button of document.querySelectorAll('[data-example]')) {
    button.addEventListener('click', () => editCode(EXAMPLES[button.dataset.example]));
  }

  $('api-key').value = state.key;
  $('key-panel').open = !state.key;
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.key = $('api-key').value.trim();
    storage.set(KEY_STORAGE, state.key);
    $('alert').hidden = true;
    notify(state.key ? 'API key saved in this browser' : 'API key cleared');
    render();
    if (state.key) {
      $('key-panel').open = false;
    }
  });
  $('forget-key').addEventListener('click', () => {
    state.key = '';
    $('api-key').value = '';
    storage.set(KEY_STORAGE, '');
    notify('API key removed from this browser');
    render();
    $('api-key').focus();
  });

  initDrop();
  initFollow();
  showFiles([]);
  render();
  setInterval(tick, 1000);
  reattach();
}

init();
