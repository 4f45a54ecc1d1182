// A small Python tokenizer for colouring code. It only has to look right while typing, so it
// works on one string in one pass and never fails: anything it does not know is plain text.

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue',
  'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in',
  'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
  'match', 'case',
]);

const BUILTINS = new Set([
  'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'breakpoint', 'bytearray', 'bytes', 'callable', 'chr',
  'classmethod', 'compile', 'complex', 'delattr', 'dict', 'dir', 'divmod', 'enumerate', 'eval', 'exec',
  'filter', 'float', 'format', 'frozenset', 'getattr', 'globals', 'hasattr', 'hash', 'help', 'hex', 'id',
  'input', 'int', 'isinstance', 'issubclass', 'iter', 'len', 'list', 'locals', 'map', 'max', 'min',
  'next', 'object', 'oct', 'open', 'ord', 'pow', 'print', 'property', 'range', 'repr', 'reversed',
  'round', 'set', 'setattr', 'slice', 'sorted', 'staticmethod', 'str', 'sum', 'super', 'tuple', 'type',
  'vars', 'zip', 'display',
]);

// Order matters: the first alternative that matches at a position wins.
const TOKEN = new RegExp([
  String.raw`(?<comment>#[^\r\n]*)`,
  // Triple-quoted strings may span lines and may be unterminated while typing.
  String.raw`(?<string>(?:[rRbBuUfF]{1,2})?(?:'''[\s\S]*?(?:'''|$(?![\s\S]))|"""[\s\S]*?(?:"""|$(?![\s\S]))|'(?:\\.|[^'\\\r\n])*'?|"(?:\\.|[^"\\\r\n])*"?))`,
  String.raw`(?<number>\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*(?:\.[\d_]*)?(?:[eE][+-]?\d+)?[jJ]?)|\.\d[\d_]*(?:[eE][+-]?\d+)?[jJ]?)`,
  String.raw`(?<decorator>@[A-Za-z_][\w.]*)`,
  String.raw`(?<name>[A-Za-z_][\w]*)`,
  String.raw`(?<space>\s+)`,
  String.raw`(?<other>[^\sA-Za-z_#'"\d@.]+|[\s\S])`,
].join('|'), 'gy');

/**
 * Splits Python source into coloured tokens; joining their texts gives the source back.
 * @param {string} code
 * @returns {{type: string, text: string}[]} type is one of keyword, builtin, self, function,
 *   class, string, comment, number, decorator, or '' for plain text
 */
export function tokenize(code) {
  const tokens = [];
  let previousWord = '';
  TOKEN.lastIndex = 0;
  let match;
  while (TOKEN.lastIndex < code.length && (match = TOKEN.exec(code)) !== null) {
    const groups = match.groups;
    const text = match[0];
    let type = '';
    if (groups.comment !== undefined) {
      type = 'comment';
    } else if (groups.string !== undefined) {
      type = 'string';
    } else if (groups.number !== undefined) {
      type = 'number';
    } else if (groups.decorator !== undefined) {
      type = 'decorator';
    } else if (groups.name !== undefined) {
      if (previousWord === 'def') {
        type = 'function';
      } else if (previousWord === 'class') {
        type = 'class';
      } else if (KEYWORDS.has(text)) {
        type = 'keyword';
      } else if (BUILTINS.has(text)) {
        type = 'builtin';
      } else if (text === 'self' || text === 'cls') {
        type = 'self';
      }
      previousWord = text;
    } else if (groups.space === undefined) {
      previousWord = '';
    }
    const last = tokens[tokens.length - 1];
    if (last && last.type === type && type === '') {
      last.text += text; // fewer DOM nodes for runs of plain text
    } else {
      tokens.push({ type, text });
    }
  }
  return tokens;
}

/**
 * Replaces an element's children with the coloured code. Built from text nodes, never from
 * markup, so code cannot turn into HTML.
 * @param {Element} element
 * @param {string} code
 */
export function highlightInto(element, code) {
  const fragment = document.createDocumentFragment();
  for (const token of tokenize(code)) {
    if (token.type === '') {
      fragment.append(token.text);
    } else {
      const span = document.createElement('span');
      span.className = `tok-${token.type}`;
      span.textContent = token.text;
      fragment.append(span);
    }
  }
  element.replaceChildren(fragment);
}
