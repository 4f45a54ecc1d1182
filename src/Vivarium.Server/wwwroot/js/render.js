// Rendering of execution outputs by MIME type. Every string here came out of a sandbox and is
// untrusted: it reaches the page only as text nodes, as an <img> data: URL, or inside a
// sandboxed iframe (text/html). Nothing is ever assigned to innerHTML.

import { renderMarkdown } from './markdown.js';

/** The MIME types shown, richest first (the first one present in a bundle is shown). */
export const MIME_ORDER = [
  'text/html', 'text/markdown', 'image/svg+xml', 'image/png', 'image/jpeg', 'text/latex',
  'application/json', 'application/pdf', 'application/javascript', 'text/plain',
];

const SHORT_NAMES = {
  'text/html': 'HTML', 'text/markdown': 'Markdown', 'image/svg+xml': 'SVG', 'image/png': 'PNG',
  'image/jpeg': 'JPEG', 'text/latex': 'LaTeX', 'application/json': 'JSON', 'application/pdf': 'PDF',
  'application/javascript': 'JavaScript', 'text/plain': 'Text',
};

// Past these, text output starts folded with a "Show all" button.
const FOLD_LINES = 40;
const FOLD_CHARS = 6000;

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

// Colour codes from pip, logging handlers and the like would show as garbage in a <pre>.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
export const stripAnsi = (text) => text.replace(ANSI, '');

/**
 * What a terminal would show for text with carriage returns (progress bars): each line keeps
 * what was written after its last \r. A trailing \r keeps the previous text until more arrives.
 */
export function applyCarriageReturns(text) {
  if (!text.includes('\r')) {
    return text;
  }
  return text.replace(/\r\n/g, '\n').split('\n').map((line) => {
    const parts = line.split('\r');
    for (let i = parts.length - 1; i >= 0; i--) {
      if (parts[i] !== '') {
        return parts[i];
      }
    }
    return '';
  }).join('\n');
}

const asText = (value) => Array.isArray(value) ? value.join('') : typeof value === 'string' ? value : JSON.stringify(value);

/**
 * A block of text that folds itself when long. `set` may be called many times (a stream
 * growing); the fold is decided again each time unless the reader already unfolded it.
 */
class FoldableText {
  constructor(className) {
    this.el = el('div', 'foldable');
    this.pre = el('pre', className);
    this.button = el('button', 'fold-toggle');
    this.button.type = 'button';
    this.button.hidden = true;
    this.expanded = false;
    this.button.addEventListener('click', () => {
      this.expanded = !this.expanded;
      this.#apply();
    });
    this.el.append(this.pre, this.button);
  }

  set(text) {
    this.pre.textContent = text;
    this.lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    this.long = this.lines > FOLD_LINES || text.length > FOLD_CHARS;
    this.#apply();
  }

  #apply() {
    const folded = this.long && !this.expanded;
    this.el.classList.toggle('folded', folded);
    this.button.hidden = !this.long;
    this.button.setAttribute('aria-expanded', String(!folded));
    this.button.textContent = folded ? `Show all (${this.lines.toLocaleString()} lines)` : 'Show less';
  }
}

/** stdout or stderr of one run of consecutive chunks, redrawn at most once a frame. */
class StreamView {
  constructor(name) {
    this.name = name;
    this.raw = '';
    this.text = new FoldableText(`out-stream out-${name === 'stderr' ? 'stderr' : 'stdout'}`);
    this.el = this.text.el;
    this.pending = false;
  }

  append(chunk) {
    this.raw += chunk;
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.pending = false;
    this.text.set(applyCarriageReturns(stripAnsi(this.raw)));
  }
}

// ---------------------------------------------------------------------------------------------
// text/html: a sandboxed iframe
// ---------------------------------------------------------------------------------------------

const frameSources = new WeakMap();
let frameTheme = 'light';

const FRAME_COLORS = {
  light: { fg: '#1f2328', bg: '#ffffff', line: '#d0d7de', stripe: '#f6f8fa' },
  dark: { fg: '#e6edf3', bg: '#0d1117', line: '#30363d', stripe: '#161b22' },
};

/**
 * The document for a srcdoc frame. The untrusted HTML is confined by the frame itself: it has
 * sandbox="" (no scripts, an opaque origin, no forms, no popups, no top navigation) and inherits
 * the page's Content-Security-Policy. The style only makes tables readable in either theme.
 */
function frameDocument(html, theme) {
  const c = FRAME_COLORS[theme];
  return '<!doctype html><html><head><meta charset="utf-8"><style>'
    + `:root{color-scheme:${theme}}`
    + `body{margin:0;padding:4px 2px 8px;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:${c.fg};background:${c.bg}}`
    + 'table{border-collapse:collapse;border:0;font-variant-numeric:tabular-nums;margin:0}'
    + `th,td{padding:4px 10px;border:0;border-bottom:1px solid ${c.line};text-align:right;white-space:nowrap}`
    + `thead th{border-bottom:2px solid ${c.line}}tbody tr:nth-child(odd){background:${c.stripe}}`
    + 'img{max-width:100%}'
    + `</style></head><body>${html}</body></html>`;
}

/**
 * A guess of the height the HTML needs, erring small: the frame cannot be measured (its
 * document has an opaque origin), so it gets a conservative height, its own scroll bars and a
 * resize handle, and the reader can expand it.
 */
export function estimateFrameHeight(html) {
  const count = (pattern) => (html.match(pattern) ?? []).length;
  const rows = count(/<tr[\s>]/gi);
  let estimate;
  if (rows > 0) {
    // A table (a DataFrame): rows of ~29px, and the caption-like paragraphs pandas adds.
    estimate = 20 + rows * 29 + count(/<p[\s>]/gi) * 24;
  } else {
    const blocks = count(/<(?:p|div|li|h[1-6]|br|pre|ul|ol|img)[\s>/]/gi);
    const text = html.replace(/<style[\s\S]*?<\/style>|<[^>]*>/gi, '').trim().length;
    estimate = 24 + Math.min(blocks, 30) * 12 + Math.ceil(text / 110) * 19;
  }
  return Math.max(56, Math.min(420, estimate));
}

function htmlFrame(html) {
  const box = el('div', 'out-html');
  const holder = el('div', 'frame-holder');
  const frame = el('iframe', 'out-frame');
  frame.setAttribute('sandbox', '');
  frame.setAttribute('referrerpolicy', 'no-referrer');
  frame.title = 'HTML output, sandboxed';
  frameSources.set(frame, html);
  frame.srcdoc = frameDocument(html, frameTheme);
  const height = estimateFrameHeight(html);
  holder.style.height = `${height}px`;
  holder.append(frame);

  const bar = el('div', 'out-bar');
  bar.append(el('span', 'muted', 'HTML in a sandboxed frame'));
  const expand = el('button', 'link-button', 'Expand');
  expand.type = 'button';
  expand.setAttribute('aria-expanded', 'false');
  expand.addEventListener('click', () => {
    const expanded = expand.getAttribute('aria-expanded') !== 'true';
    holder.style.height = expanded ? `${Math.max(height, Math.round(window.innerHeight * 0.8))}px` : `${height}px`;
    expand.setAttribute('aria-expanded', String(expanded));
    expand.textContent = expanded ? 'Shrink' : 'Expand';
  });
  bar.append(expand);
  box.append(holder, bar);
  return box;
}

/** Redraws every HTML frame in the other theme (the frames cannot follow the page's CSS). */
export function setFrameTheme(theme) {
  frameTheme = theme === 'dark' ? 'dark' : 'light';
  for (const frame of document.querySelectorAll('iframe.out-frame')) {
    const html = frameSources.get(frame);
    if (html !== undefined) {
      frame.srcdoc = frameDocument(html, frameTheme);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MIME bundles
// ---------------------------------------------------------------------------------------------

function image(src, alt, meta) {
  const img = el('img', 'out-image');
  img.alt = alt;
  img.src = src;
  if (meta && Number.isFinite(meta.width)) {
    img.width = meta.width;
  }
  if (meta && Number.isFinite(meta.height)) {
    img.height = meta.height;
  }
  return img;
}

function foldable(text, className) {
  const view = new FoldableText(className);
  view.set(text);
  return view.el;
}

function labelled(label, child) {
  const box = el('div', 'out-labelled');
  box.append(el('div', 'out-label', label), child);
  return box;
}

function renderMime(type, value, meta, alt) {
  const text = asText(value);
  switch (type) {
    case 'text/html':
      return htmlFrame(text);
    case 'text/markdown':
      return renderMarkdown(text);
    case 'image/svg+xml':
      // As an image, an SVG's scripts and event handlers never run, whatever it contains.
      return image(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`, alt, meta);
    case 'image/png':
    case 'image/jpeg':
      return image(`data:${type};base64,${text.replace(/[^A-Za-z0-9+/=]/g, '')}`, alt, meta);
    case 'text/latex':
      return labelled('LaTeX source', foldable(text, 'out-text out-latex'));
    case 'application/json':
      return foldable(typeof value === 'string' ? value : JSON.stringify(value, null, 2), 'out-text');
    case 'application/pdf':
      return pdfLink(text);
    case 'application/javascript':
      return labelled('JavaScript (not run in the playground)', foldable(text, 'out-text'));
    default:
      return foldable(stripAnsi(text), 'out-text');
  }
}

function pdfLink(base64) {
  const button = el('button', 'link-button', 'Download the PDF');
  button.type = 'button';
  button.addEventListener('click', () => {
    const bytes = Uint8Array.from(atob(base64.replace(/[^A-Za-z0-9+/=]/g, '')), (c) => c.charCodeAt(0));
    saveBlob(new Blob([bytes], { type: 'application/pdf' }), 'output.pdf');
  });
  return button;
}

/** Saves bytes through a temporary link: the only way to download with a fetched body. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * One display_data or execute_result. When the bundle has several types the reader can switch;
 * the richest is shown first.
 */
export function renderBundle(data, metadata) {
  const box = el('div', 'out-rich');
  const types = MIME_ORDER.filter((type) => Object.hasOwn(data, type));
  if (types.length === 0) {
    box.append(el('p', 'muted', `(an output of type ${Object.keys(data).join(', ') || 'none'}, which the playground does not show)`));
    return box;
  }
  const alt = Object.hasOwn(data, 'text/plain') ? asText(data['text/plain']).slice(0, 200) : 'image output';
  const view = el('div', 'out-view');
  const show = (type) => view.replaceChildren(renderMime(type, data[type], metadata?.[type], alt));
  if (types.length > 1) {
    const bar = el('div', 'out-mimes');
    bar.setAttribute('role', 'group');
    bar.setAttribute('aria-label', 'Show this output as');
    for (const type of types) {
      const button = el('button', 'mime', SHORT_NAMES[type]);
      button.type = 'button';
      button.title = type;
      button.dataset.mime = type;
      button.setAttribute('aria-pressed', String(type === types[0]));
      button.addEventListener('click', () => {
        for (const other of bar.children) {
          other.setAttribute('aria-pressed', String(other === button));
        }
        show(type);
      });
      bar.append(button);
    }
    box.append(bar);
  }
  box.dataset.mime = types[0];
  show(types[0]);
  box.append(view);
  return box;
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const USER_FRAME = /^\s*(?:Cell|Input) In ?\[/;
const LIBRARY_FRAME = /^File /;
const SEPARATOR = /^-{20,}$/;
const HEADER = /Traceback \(most recent call last\)\s*$/;
const CURRENT_LINE = /^\s*-+>/;

/**
 * Splits an IPython traceback (colours off) into frames: the user's own cells, library code
 * and the text between them (headers, chained-exception notes, the exception line).
 */
export function parseTraceback(traceback) {
  const blocks = [];
  let block = null;
  for (const line of traceback.replace(/\r\n?/g, '\n').split('\n')) {
    const kind = USER_FRAME.test(line) ? 'user' : LIBRARY_FRAME.test(line) ? 'library' : null;
    if (line.trim() === '') {
      block = null;
      continue;
    }
    // A frame is its header line and the indented source lines below it; an unindented line
    // after that (the SyntaxError line, say) is text again.
    const endsFrame = block && block.kind !== 'text' && !kind && /^[A-Za-z_]/.test(line);
    if (kind || !block || endsFrame) {
      block = { kind: kind ?? 'text', lines: [] };
      blocks.push(block);
    }
    block.lines.push(line);
  }
  return blocks;
}

function renderFrame(block) {
  const frame = el('div', `tb-frame tb-${block.kind}`);
  for (const line of block.lines) {
    const current = CURRENT_LINE.test(line);
    const span = el('span', current ? 'tb-line tb-current' : 'tb-line', line);
    frame.append(span, '\n');
  }
  return frame;
}

/** An error output: the exception first, then the traceback with the user's frames marked. */
export function renderError(output) {
  const box = el('div', 'out-error');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', `Error: ${output.name}`);
  const head = el('div', 'err-head');
  head.append(el('strong', 'err-name', output.name));
  if (output.value) {
    head.append(': ', el('span', 'err-value', stripAnsi(output.value)));
  }
  box.append(head);

  const blocks = parseTraceback(stripAnsi(output.traceback ?? ''));
  if (blocks.length === 0) {
    return box;
  }
  const pre = el('pre', 'err-traceback');
  let libraries = null;
  for (const block of blocks) {
    if (block.kind === 'library') {
      // Library frames fold together, so the user's own frames stand out.
      if (!libraries) {
        libraries = el('details', 'tb-libraries');
        libraries.append(el('summary', null));
        pre.append(libraries);
      }
      libraries.append(renderFrame(block));
      const count = libraries.childElementCount - 1;
      libraries.firstElementChild.textContent = `${count} frame${count === 1 ? '' : 's'} in library code`;
      continue;
    }
    libraries = null;
    if (block.kind === 'user') {
      pre.append(renderFrame(block));
      continue;
    }
    const text = el('div', 'tb-frame tb-text');
    for (const line of block.lines) {
      const className = SEPARATOR.test(line) ? 'tb-line tb-separator'
        : HEADER.test(line) ? 'tb-line tb-header'
          : /^[A-Za-z_][\w.]*(?::|$)/.test(line) && !/^The above exception|^During handling/.test(line) ? 'tb-line tb-exception'
            : 'tb-line';
      text.append(el('span', className, line), '\n');
    }
    pre.append(text);
  }
  box.append(pre);
  return box;
}

// ---------------------------------------------------------------------------------------------
// A cell's outputs, live and final
// ---------------------------------------------------------------------------------------------

/**
 * Mirrors the server's folding of outputs (docs/architecture.md, "Output shaping"): consecutive
 * chunks of one stream are one output and clear_output removes streams and displays. So when
 * `done` arrives, what the live events did not show (the tail of a stream past its cap, a crash)
 * is exactly the outputs past the ones already shown.
 */
export class OutputArea {
  constructor() {
    this.el = el('div', 'outputs');
    this.items = []; // { type, name?, view, element }
  }

  add(output) {
    if (output.type === 'stream') {
      const last = this.items[this.items.length - 1];
      if (last && last.type === 'stream' && last.name === output.name) {
        last.view.append(output.text);
        return;
      }
      const view = new StreamView(output.name);
      view.append(output.text);
      this.#push({ type: 'stream', name: output.name, view, element: view.el });
    } else if (output.type === 'display_data' || output.type === 'execute_result') {
      const element = renderBundle(output.data ?? {}, output.metadata);
      element.classList.add(output.type === 'execute_result' ? 'out-result' : 'out-display');
      this.#push({ type: output.type, element });
    } else if (output.type === 'error') {
      this.#push({ type: 'error', element: renderError(output) });
    }
  }

  clear() {
    this.items = this.items.filter((item) => {
      const cleared = item.type === 'stream' || item.type === 'display_data';
      if (cleared) {
        item.element.remove();
      }
      return !cleared;
    });
  }

  /** Shows whatever the final Execution has beyond what was streamed. */
  finish(execution) {
    for (const output of (execution.outputs ?? []).slice(this.items.length)) {
      this.add(output);
    }
    for (const item of this.items) {
      item.view?.flush();
    }
  }

  note(text, className = 'out-note') {
    this.el.append(el('p', className, text));
  }

  #push(item) {
    this.items.push(item);
    this.el.append(item.element);
  }
}
