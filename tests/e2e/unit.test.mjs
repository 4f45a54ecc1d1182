// The page's pure modules, tested in Node without a browser: they are plain ES modules that
// touch the DOM only inside functions these tests do not call.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser } from '../../src/Vivarium.Server/wwwroot/js/sse.js';
import { tokenize } from '../../src/Vivarium.Server/wwwroot/js/highlight.js';
import { formatBytes, formatCountdown, formatDuration } from '../../src/Vivarium.Server/wwwroot/js/format.js';
import {
  applyCarriageReturns, estimateFrameHeight, parseTraceback, stripAnsi,
} from '../../src/Vivarium.Server/wwwroot/js/render.js';

test('SSE: events split anywhere, CRLF split across chunks, comments and multi-line data', () => {
  const stream = ': keepalive\r\n\r\nevent: stream\r\ndata: {"a":1}\r\n\r\nevent: done\ndata: line1\ndata:line2\n\n';
  for (let size = 1; size <= stream.length; size++) {
    const parser = new SseParser();
    const events = [];
    for (let i = 0; i < stream.length; i += size) {
      events.push(...parser.push(stream.slice(i, i + size)));
    }
    assert.deepEqual(events, [
      { event: 'stream', data: '{"a":1}' },
      { event: 'done', data: 'line1\nline2' },
    ], `chunks of ${size}`);
  }
});

test('SSE: an event without a name is a message; one without data is dropped', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: x\n\nevent: empty\n\n'), [{ event: 'message', data: 'x' }]);
  assert.deepEqual(parser.push('data: y\n'), [], 'not complete before the blank line');
  assert.deepEqual(parser.push('\n'), [{ event: 'message', data: 'y' }]);
});

test('highlighter: tokens join back to the source, and kinds are recognised', () => {
  const code = [
    '@dataclass', 'class Point:', '    def norm(self, p=2.5e3):  # the norm',
    '        return f"{self.x}" + \'\'\'multi', 'line\'\'\' if True else None', 'print(0x1F, len("a\\"b"))',
    'unterminated = "abc',
  ].join('\n');
  const tokens = tokenize(code);
  assert.equal(tokens.map((t) => t.text).join(''), code);
  const kinds = (type) => tokens.filter((t) => t.type === type).map((t) => t.text);
  assert.deepEqual(kinds('decorator'), ['@dataclass']);
  assert.deepEqual(kinds('class'), ['Point']);
  assert.deepEqual(kinds('function'), ['norm']);
  assert.ok(kinds('keyword').includes('return') && kinds('keyword').includes('None'));
  assert.deepEqual(kinds('comment'), ['# the norm']);
  assert.ok(kinds('string').includes("'''multi\nline'''"));
  assert.ok(kinds('string').includes('"abc'), 'an unterminated string ends at the line end');
  assert.deepEqual(kinds('number'), ['2.5e3', '0x1F']);
  assert.deepEqual(kinds('builtin'), ['print', 'len']);
  assert.deepEqual(kinds('self'), ['self'], 'the one inside the f-string is string');
});

test('tracebacks: user frames, library frames and the exception line are told apart', () => {
  const traceback = [
    '---------------------------------------------------------------------------',
    'KeyError                                  Traceback (most recent call last)',
    'File /usr/lib/python3/dist-packages/pandas/core/indexes/base.py:3802, in Index.get_loc(self, key)',
    '   3801 try:',
    '-> 3802     return self._engine.get_loc(casted_key)',
    '',
    'KeyError: \'date\'',
    '',
    'The above exception was the direct cause of the following exception:',
    '',
    'KeyError                                  Traceback (most recent call last)',
    'Cell In [2], line 4',
    '      3     return d[\'date\']',
    '----> 4 f(pd.DataFrame({\'a\':[1]}))',
    '',
    'KeyError: \'date\'',
  ].join('\n');
  const blocks = parseTraceback(traceback);
  assert.deepEqual(blocks.map((b) => b.kind), ['text', 'library', 'text', 'text', 'text', 'user', 'text']);
  assert.equal(blocks[5].lines[0], 'Cell In [2], line 4');
  assert.equal(blocks[5].lines.length, 3);

  const syntax = parseTraceback('  Cell In [3], line 1\n    x = (1,\n           ^\nSyntaxError: incomplete input\n');
  assert.deepEqual(syntax.map((b) => b.kind), ['user', 'text']);
  assert.equal(syntax[1].lines[0], 'SyntaxError: incomplete input');
});

test('stream text: carriage returns overwrite the line, ANSI colours are dropped', () => {
  assert.equal(applyCarriageReturns('10%\r50%\r100%\ndone\n'), '100%\ndone\n');
  assert.equal(applyCarriageReturns('working 3/3\r'), 'working 3/3');
  assert.equal(stripAnsi('\u001b[31mred\u001b[0m plain'), 'red plain');
});

test('HTML frames get a bounded height estimate', () => {
  assert.equal(estimateFrameHeight('<b>hi</b>'), 56);
  const rows = '<tr><td>1</td></tr>'.repeat(4);
  assert.equal(estimateFrameHeight(`<table>${rows}</table>`), 20 + 4 * 29);
  assert.equal(estimateFrameHeight(`<table>${rows.repeat(100)}</table>`), 420);
});

test('formatting of sizes, durations and countdowns', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(50 * 1024 * 1024), '50 MB');
  assert.equal(formatDuration(28.4), '28 ms');
  assert.equal(formatDuration(1500), '1.5 s');
  assert.equal(formatDuration(125_000), '2 min 5 s');
  assert.equal(formatCountdown(1_199_400), '19:59');
  assert.equal(formatCountdown(3_723_000), '1:02:03');
  assert.equal(formatCountdown(-5), '0:00');
});
