// The code cell: a plain <textarea> (so selection, IME, spell-check off, undo and screen
// readers all work as the browser made them) over a <pre> that shows the same text coloured.
// Both sit in one grid cell with identical font, padding and wrapping, so the coloured text is
// exactly under the typed text, and the grid grows with the content.

import { highlightInto } from './highlight.js';

const INDENT = '    ';

/**
 * Replaces the selection with text through the browser's editing command when it has one, so
 * the change lands on the textarea's own undo stack (Ctrl+Z undoes an indent).
 */
function insertText(textarea, text) {
  textarea.focus();
  const done = text === '' ? document.execCommand?.('delete') : document.execCommand?.('insertText', false, text);
  if (!done) {
    textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, 'end');
    textarea.dispatchEvent(new Event('input', { bubbles: true }));
  }
}

function lineStart(value, position) {
  return value.lastIndexOf('\n', position - 1) + 1;
}

export class CodeEditor {
  /**
   * @param {HTMLTextAreaElement} textarea
   * @param {HTMLElement} highlight the <code> inside the <pre> under the textarea
   * @param {{onRun: () => void}} handlers
   */
  constructor(textarea, highlight, { onRun }) {
    this.textarea = textarea;
    this.highlight = highlight;
    this.onRun = onRun;
    this.tabLeaves = false; // after Escape, Tab moves focus instead of indenting
    this.history = [];
    this.historyIndex = 0;
    this.draft = '';
    textarea.addEventListener('input', () => this.render());
    textarea.addEventListener('keydown', (event) => this.#keydown(event));
    textarea.addEventListener('blur', () => {
      this.tabLeaves = false;
    });
    this.render();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.textarea.setSelectionRange(text.length, text.length);
    this.render();
  }

  focus() {
    this.textarea.focus();
  }

  render() {
    // The trailing newline gives an empty last line its height, as in the textarea.
    highlightInto(this.highlight, `${this.textarea.value}\n`);
  }

  /** Remembers code that was run, for Alt+Up and Alt+Down. */
  remember(code) {
    if (code.trim() && this.history[this.history.length - 1] !== code) {
      this.history.push(code);
    }
    this.historyIndex = this.history.length;
    this.draft = '';
  }

  #recall(step) {
    const next = this.historyIndex + step;
    if (next < 0 || next > this.history.length) {
      return;
    }
    if (this.historyIndex === this.history.length) {
      this.draft = this.value;
    }
    this.historyIndex = next;
    this.value = next === this.history.length ? this.draft : this.history[next];
  }

  #keydown(event) {
    const mod = event.ctrlKey || event.metaKey;
    if (event.key === 'Enter' && mod) {
      event.preventDefault();
      this.onRun();
      return;
    }
    if (event.key === 'Escape') {
      this.tabLeaves = true;
      return;
    }
    if (event.key === 'Tab') {
      if (this.tabLeaves || mod || event.altKey) {
        this.tabLeaves = false;
        return; // the browser moves focus
      }
      event.preventDefault();
      this.#indent(event.shiftKey);
      return;
    }
    this.tabLeaves = false;
    if (event.key === 'Enter' && !event.shiftKey && !event.altKey) {
      event.preventDefault();
      this.#newline();
    } else if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      event.preventDefault();
      this.#recall(event.key === 'ArrowUp' ? -1 : 1);
    } else if (event.key === 'Backspace' && !mod) {
      this.#backspace(event);
    }
  }

  /** Tab indents (the selected lines, or at the caret); Shift+Tab dedents whole lines. */
  #indent(dedent) {
    const t = this.textarea;
    const { selectionStart: start, selectionEnd: end, value } = t;
    const multiline = value.slice(start, end).includes('\n');
    if (!dedent && !multiline) {
      const column = start - lineStart(value, start);
      insertText(t, ' '.repeat(INDENT.length - (column % INDENT.length)));
      return;
    }
    const from = lineStart(value, start);
    // A selection ending at the start of a line does not take that line along.
    const last = end > start && value[end - 1] === '\n' ? end - 1 : end;
    const lineEnd = value.indexOf('\n', last);
    const to = lineEnd < 0 ? value.length : lineEnd;
    const lines = value.slice(from, to).split('\n');
    const changed = lines.map((line) => {
      if (!dedent) {
        return line === '' ? line : INDENT + line;
      }
      const spaces = line.match(/^ */)[0].length;
      return line.slice(Math.min(spaces, INDENT.length));
    });
    const replacement = changed.join('\n');
    if (replacement === value.slice(from, to)) {
      return;
    }
    t.setSelectionRange(from, to);
    insertText(t, replacement);
    const caret = Math.max(from, start + changed[0].length - lines[0].length);
    t.setSelectionRange(caret, start === end ? caret : end + replacement.length - (to - from));
  }

  /** Enter keeps the indentation, one level more after a colon. */
  #newline() {
    const t = this.textarea;
    const { selectionStart: start, value } = t;
    const line = value.slice(lineStart(value, start), start);
    let indent = line.match(/^[ \t]*/)[0];
    if (/:\s*(#.*)?$/.test(line)) {
      indent += INDENT;
    }
    insertText(t, `\n${indent}`);
  }

  /** Backspace in leading spaces removes one indent level. */
  #backspace(event) {
    const t = this.textarea;
    const { selectionStart: start, selectionEnd: end, value } = t;
    if (start !== end) {
      return;
    }
    const before = value.slice(lineStart(value, start), start);
    if (before.length === 0 || !/^ +$/.test(before)) {
      return;
    }
    event.preventDefault();
    const remove = before.length % INDENT.length || INDENT.length;
    t.setSelectionRange(start - remove, start);
    insertText(t, '');
  }
}
