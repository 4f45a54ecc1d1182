// One executed cell in the history: its code, its outputs as they stream in, how it ended and
// the files it changed. Collapsible through a native <details>, so the keyboard works as usual.

import { highlightInto } from './highlight.js';
import { OutputArea } from './render.js';
import { formatBytes, formatDuration } from './format.js';

const STATUS_TEXT = {
  running: 'running',
  ok: 'ok',
  error: 'error',
  timeout: 'timed out',
  interrupted: 'interrupted',
  crashed: 'crashed',
  failed: 'not run',
};

const el = (tag, className, text) => {
  const element = document.createElement(tag);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  return element;
};

export class CellView {
  /**
   * @param {string} code
   * @param {{onEdit: (code: string) => void, onDownload: (path: string) => void}} handlers
   */
  constructor(code, { onEdit, onDownload }) {
    this.code = code;
    this.onDownload = onDownload;
    this.startedAt = performance.now();

    this.el = el('article', 'cell');
    this.el.dataset.status = 'running';
    this.details = el('details', 'cell-details');
    this.details.open = true;

    const summary = el('summary', 'cell-summary');
    this.prompt = el('span', 'prompt', 'In [ ]');
    const firstLine = code.split('\n').find((line) => line.trim()) ?? '';
    this.title = el('code', 'cell-title', firstLine.trim());
    this.status = el('span', 'cell-status');
    summary.append(this.prompt, this.title, this.status);

    const body = el('div', 'cell-body');
    const pre = el('pre', 'cell-code');
    const codeElement = el('code');
    highlightInto(codeElement, code);
    pre.append(codeElement);
    this.outputs = new OutputArea();
    this.files = el('div', 'cell-files');
    this.files.hidden = true;
    const actions = el('div', 'cell-actions');
    const edit = el('button', 'link-button', 'Edit in the code cell');
    edit.type = 'button';
    edit.addEventListener('click', () => onEdit(code));
    actions.append(edit);
    body.append(pre, this.outputs.el, this.files, actions);

    this.details.append(summary, body);
    this.el.append(this.details);
    this.tick();
  }

  /** A streamed event other than `done`. */
  onEvent(name, data) {
    if (name === 'clear_output') {
      this.outputs.clear();
    } else if (name === 'stream' || name === 'display_data' || name === 'execute_result' || name === 'error') {
      this.outputs.add(data);
    }
  }

  /** Keeps the running time current; called every second by the page. */
  tick() {
    if (this.el.dataset.status === 'running') {
      this.status.textContent = `running ${formatDuration(performance.now() - this.startedAt)}`;
    }
  }

  /** The execution is over: show the rest of its outputs, how it ended and its files. */
  finish(execution) {
    this.outputs.finish(execution);
    const status = execution.status ?? 'ok';
    this.el.dataset.status = status;
    if (execution.execution_count != null) {
      this.prompt.textContent = `In [${execution.execution_count}]`;
      this.el.dataset.executionCount = String(execution.execution_count);
    }
    this.status.textContent = `${STATUS_TEXT[status] ?? status} · ${formatDuration(execution.duration_ms)}`;
    const hasError = (execution.outputs ?? []).some((output) => output.type === 'error');
    if (status === 'timeout' && !hasError) {
      this.outputs.note('The code ran past its time limit and was stopped. Variables are kept.');
    } else if (status === 'interrupted' && !hasError) {
      this.outputs.note('Interrupted. Variables are kept.');
    }
    if (execution.stdout_truncated || execution.stderr_truncated) {
      this.outputs.note('The output was too long: its middle was left out.');
    }
    this.#showFiles(execution.files ?? []);
  }

  /** The request itself failed (busy, refused, connection lost): nothing ran, or we cannot tell. */
  fail(error) {
    this.el.dataset.status = 'failed';
    this.status.textContent = STATUS_TEXT.failed;
    this.outputs.note(error.message, 'out-note out-problem');
  }

  #showFiles(files) {
    if (files.length === 0) {
      return;
    }
    this.files.hidden = false;
    this.files.append(el('span', 'muted', 'Files'));
    const list = el('ul', 'file-changes');
    for (const file of files) {
      const item = el('li');
      item.dataset.path = file.path;
      item.dataset.change = file.change;
      if (file.change === 'deleted') {
        item.append(el('del', null, file.path), ' ', el('span', 'muted', 'deleted'));
      } else {
        const link = el('button', 'link-button file-link', file.path);
        link.type = 'button';
        link.setAttribute('aria-label', `Download ${file.path}`);
        link.addEventListener('click', () => this.onDownload(file.path));
        item.append(link, ' ', el('span', 'muted', `${file.change} · ${formatBytes(file.size)}`));
      }
      list.append(item);
    }
    this.files.append(list);
  }
}
