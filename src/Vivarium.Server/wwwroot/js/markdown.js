// A tiny Markdown renderer for text/markdown outputs. Markdown from a sandbox is untrusted, so
// this builds DOM nodes directly (createElement and text nodes) and never parses markup: raw
// HTML in the source stays visible text, links only go to http(s) or mailto, and images only
// come from data: URLs of raster types. It covers what notebooks print (headings, emphasis,
// code, lists, quotes, tables, rules), not all of CommonMark.

import { highlightInto } from './highlight.js';

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const RULE = /^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$/;
const SAFE_LINK = /^(?:https?:|mailto:)/i;
const SAFE_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$/;

/**
 * @param {string} source
 * @returns {HTMLElement} a div with the rendered blocks
 */
export function renderMarkdown(source) {
  const root = document.createElement('div');
  root.className = 'markdown';
  renderBlocks(source.replace(/\r\n?/g, '\n').split('\n'), root);
  return root;
}

function renderBlocks(lines, parent) {
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length > 0) {
      const p = document.createElement('p');
      paragraph.forEach((line, index) => {
        if (index > 0) {
          // Two trailing spaces make a hard break; otherwise lines join with a space.
          p.append(/ {2,}$/.test(paragraph[index - 1]) ? document.createElement('br') : ' ');
        }
        renderInline(line.trim(), p);
      });
      parent.append(p);
      paragraph = [];
    }
  };

  while (i < lines.length) {
    const line = lines[i];
    let match;
    if (line.trim() === '') {
      flush();
      i++;
    } else if ((match = FENCE.exec(line))) {
      flush();
      const fence = match[1];
      const language = match[2].toLowerCase();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence)) {
        body.push(lines[i]);
        i++;
      }
      i++;
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      if (language === 'python' || language === 'py') {
        highlightInto(code, body.join('\n'));
      } else {
        code.textContent = body.join('\n');
      }
      pre.append(code);
      parent.append(pre);
    } else if ((match = HEADING.exec(line))) {
      flush();
      const heading = document.createElement(`h${match[1].length}`);
      renderInline(match[2], heading);
      parent.append(heading);
      i++;
    } else if (RULE.test(line)) {
      flush();
      parent.append(document.createElement('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && (match = QUOTE.exec(lines[i]))) {
        quoted.push(match[1]);
        i++;
      }
      const blockquote = document.createElement('blockquote');
      renderBlocks(quoted, blockquote);
      parent.append(blockquote);
    } else if ((match = ITEM.exec(line))) {
      flush();
      i = renderList(lines, i, parent);
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]) && lines[i + 1].includes('-')) {
      flush();
      i = renderTable(lines, i, parent);
    } else {
      paragraph.push(line);
      i++;
    }
  }
  flush();
}

function renderList(lines, start, parent) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = document.createElement(ordered ? 'ol' : 'ul');
  if (ordered && parseInt(first[2], 10) !== 1) {
    list.start = parseInt(first[2], 10);
  }
  let i = start;
  while (i < lines.length) {
    const match = ITEM.exec(lines[i]);
    if (!match || match[1].length !== indent || /\d/.test(match[2]) !== ordered) {
      break;
    }
    const item = document.createElement('li');
    const content = [match[3]];
    i++;
    // Continuation lines and nested lists are the lines indented deeper than this item.
    while (i < lines.length && lines[i].trim() !== '' && !(ITEM.exec(lines[i])?.[1].length <= indent)) {
      content.push(lines[i].slice(Math.min(lines[i].length - lines[i].trimStart().length, indent + 2)));
      i++;
    }
    if (content.length === 1) {
      renderInline(content[0], item);
    } else {
      renderBlocks(content, item);
      // A one-paragraph item reads better without the paragraph's margins.
      if (item.childElementCount === 1 && item.firstElementChild.tagName === 'P') {
        item.replaceChildren(...item.firstElementChild.childNodes);
      }
    }
    list.append(item);
  }
  parent.append(list);
  return i;
}

function splitRow(line) {
  let row = line.trim();
  if (row.startsWith('|')) {
    row = row.slice(1);
  }
  if (row.endsWith('|') && !row.endsWith('\\|')) {
    row = row.slice(0, -1);
  }
  return row.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, '|'));
}

function renderTable(lines, start, parent) {
  const wrapper = document.createElement('div');
  wrapper.className = 'md-table';
  const table = document.createElement('table');
  const aligns = splitRow(lines[start + 1]).map((cell) =>
    cell.startsWith(':') && cell.endsWith(':') ? 'center' : cell.endsWith(':') ? 'right' : cell.startsWith(':') ? 'left' : '');
  const addRow = (section, cells, tag) => {
    const tr = document.createElement('tr');
    cells.forEach((text, index) => {
      const cell = document.createElement(tag);
      if (aligns[index]) {
        cell.style.textAlign = aligns[index];
      }
      renderInline(text, cell);
      tr.append(cell);
    });
    section.append(tr);
  };
  const head = document.createElement('thead');
  addRow(head, splitRow(lines[start]), 'th');
  const body = document.createElement('tbody');
  let i = start + 2;
  while (i < lines.length && lines[i].includes('|') && lines[i].trim() !== '') {
    addRow(body, splitRow(lines[i]), 'td');
    i++;
  }
  table.append(head, body);
  wrapper.append(table);
  parent.append(wrapper);
  return i;
}

// Inline syntax, earliest match first. renderInline reads the groups by number, counted from
// the left (named groups count too): code 1-3, image 4-6, link 7-9, autolink 10-11,
// strong 12-14, em 15-17, strike 18-19, escape 20-21.
const INLINE = new RegExp([
  String.raw`(?<code>(\`+)([\s\S]*?[^\`])\2(?!\`))`,
  String.raw`(?<image>!\[([^\]]*)\]\(\s*([^)\s]*)(?:\s+"[^"]*")?\s*\))`,
  String.raw`(?<link>\[([^\]]+)\]\(\s*([^)\s]*)(?:\s+"[^"]*")?\s*\))`,
  String.raw`(?<autolink><(https?:\/\/[^>\s]+)>)`,
  String.raw`(?<strong>\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__(?!\w))`,
  String.raw`(?<em>\*(?=[^\s*])([\s\S]*?[^\s*])\*|(?<!\w)_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w))`,
  String.raw`(?<strike>~~(?=\S)([\s\S]*?\S)~~)`,
  String.raw`(?<escape>\\([\\\`*_{}\[\]()#+\-.!|~<>]))`,
].join('|'), 'g');

function renderInline(text, parent) {
  let last = 0;
  INLINE.lastIndex = 0;
  const matches = [...text.matchAll(INLINE)];
  for (const match of matches) {
    if (match.index < last) {
      continue;
    }
    parent.append(text.slice(last, match.index));
    last = match.index + match[0].length;
    const g = match.groups;
    const m = match;
    if (g.code !== undefined) {
      const code = document.createElement('code');
      code.textContent = m[3].replace(/^ (.*) $/, '$1');
      parent.append(code);
    } else if (g.image !== undefined) {
      const [alt, src] = [m[5], m[6]];
      if (SAFE_IMAGE.test(src)) {
        const img = document.createElement('img');
        img.alt = alt;
        img.src = src;
        parent.append(img);
      } else {
        parent.append(`[image: ${alt || src}]`);
      }
    } else if (g.link !== undefined) {
      appendLink(parent, m[9], m[8]);
    } else if (g.autolink !== undefined) {
      appendLink(parent, m[11], m[11]);
    } else if (g.strong !== undefined) {
      const strong = document.createElement('strong');
      renderInline(m[13] ?? m[14], strong);
      parent.append(strong);
    } else if (g.em !== undefined) {
      const em = document.createElement('em');
      renderInline(m[16] ?? m[17], em);
      parent.append(em);
    } else if (g.strike !== undefined) {
      const del = document.createElement('del');
      renderInline(m[19], del);
      parent.append(del);
    } else if (g.escape !== undefined) {
      parent.append(m[21]);
    }
  }
  parent.append(text.slice(last));
}

function appendLink(parent, href, label) {
  if (!SAFE_LINK.test(href)) {
    renderInline(label, parent); // keep the words, drop a javascript: or relative target
    return;
  }
  const a = document.createElement('a');
  a.href = href;
  a.rel = 'noopener noreferrer';
  a.target = '_blank';
  renderInline(label, a);
  parent.append(a);
}
