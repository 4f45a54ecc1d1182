// Cohere Terrarium's own example requests, replayed against POST /terrarium as Terrarium's
// client sends them ({code, files}), with the outcomes Terrarium documents for them.
import { contactedHosts } from './loopback-guard.mjs'
import { apiKey, raw } from './common.mjs'
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

const fixture = name => readFileSync(new URL(`./fixtures/terrarium/${name}`, import.meta.url))

/** Terrarium's client: POST {code, files?}, one JSON object back (followed by a newline). */
async function terrarium (code, files, key = apiKey) {
  const res = await raw('/terrarium', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `bearer ${key}` },
    body: JSON.stringify(files ? { code, files } : { code }),
  })
  const text = await res.text()
  return { status: res.status, body: res.status === 200 ? JSON.parse(text.split('\n')[0]) : text, raw: text }
}

const outputs = body => Object.fromEntries((body.output_files ?? []).map(f => [f.filename, Buffer.from(f.b64_data, 'base64')]))

describe('Terrarium', () => {
  it('answers its README example: 1 + 1', async () => {
    const { status, body, raw: text } = await terrarium('1 + 1')
    assert.equal(status, 200)
    assert.ok(text.endsWith('}\n'), 'one JSON object and a newline, as Terrarium writes it')
    assert.equal(body.success, true)
    assert.equal(body.final_expression, 2)
    assert.deepEqual(body.output_files, [])
    assert.equal(body.std_out, '')
    assert.equal(body.std_err, '')
    assert.equal(typeof body.code_runtime, 'number')
  })

  it('runs numpy_simple.py', async () => {
    const { body } = await terrarium(fixture('numpy_simple.py').toString())
    assert.equal(body.success, true)
    assert.equal(body.std_out, [
      '[[ 0  1  2  3  4]', ' [ 5  6  7  8  9]', ' [10 11 12 13 14]]',
      '[[20 21 22 23 24]', ' [25 26 27 28 29]', ' [30 31 32 33 34]]', '',
    ].join('\n'))
    assert.equal(body.final_expression, undefined)
  })

  it('runs sympy_simple.py', async () => {
    const { body } = await terrarium(fixture('sympy_simple.py').toString())
    assert.equal(body.success, true)
    assert.equal(body.std_out, 'The solution to -14*v - 98 is v = [-7]\n')
  })

  it('returns the png, pdf and svg of simple_matplotlib.py', async () => {
    const { body } = await terrarium(fixture('simple_matplotlib.py').toString())
    assert.equal(body.success, true, JSON.stringify(body.error))
    const files = outputs(body)
    assert.deepEqual(Object.keys(files).sort(), ['plot.pdf', 'plot.png', 'plot.svg'])
    assert.deepEqual(files['plot.png'].subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    assert.equal(files['plot.pdf'].subarray(0, 5).toString(), '%PDF-')
    assert.match(files['plot.svg'].toString(), /<svg[\s\S]*Simple Matplotlib Example/)
    assert.ok(files['plot.png'].length > 10_000)
  })

  it('returns the chart of simple_matplotlib_barchart.py', async () => {
    const { body } = await terrarium(fixture('simple_matplotlib_barchart.py').toString())
    assert.equal(body.success, true)
    const files = outputs(body)
    assert.deepEqual(Object.keys(files), ['mars_mountains.png'])
    assert.deepEqual(files['mars_mountains.png'].subarray(0, 4), Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  })

  it('reports the missing import of error_missing_import.py', async () => {
    const { status, body } = await terrarium(fixture('error_missing_import.py').toString())
    assert.equal(status, 200, 'a failing program is still a 200, as in Terrarium')
    assert.equal(body.success, false)
    assert.equal(body.error.type, 'NameError')
    assert.match(body.error.message, /name 'Symbol' is not defined/)
    assert.match(body.error.message, /v = Symbol\('v'\)/, 'the message shows the failing line')
    assert.equal(body.output_files, undefined)
    assert.equal(typeof body.code_runtime, 'number')
  })

  it('reports the attribute error of error_wrong_param.py, without the files of a failed run', async () => {
    const { body } = await terrarium(fixture('error_wrong_param.py').toString())
    assert.equal(body.success, false)
    assert.equal(body.error.type, 'AttributeError')
    assert.match(body.error.message, /has no attribute 'plotter'/)
    assert.equal(body.output_files, undefined)
  })

  it('reports the error of error_syntax_error.py (which Python parses: the unknown name fails)', async () => {
    // "label=Cos(x)+ one" is valid syntax, so CPython (and Pyodide) raise NameError at run time.
    const { body } = await terrarium(fixture('error_syntax_error.py').toString())
    assert.equal(body.success, false)
    assert.equal(body.error.type, 'NameError')
    assert.match(body.error.message, /name 'Cos' is not defined/)
  })

  it('reports a real syntax error', async () => {
    const { body } = await terrarium('def broken(:\n    pass')
    assert.equal(body.success, false)
    assert.equal(body.error.type, 'SyntaxError')
  })

  it('replays input files byte for byte (replay_inputs.py)', async () => {
    // Terrarium's binary input is a 123,464-byte JPEG; any bytes of that size test the same path.
    const jpg = Buffer.alloc(123_464)
    for (let i = 0; i < jpg.length; i++) jpg[i] = (i * 7919 + (i >> 8)) & 0xff
    const json = fixture('test_file_input.json')
    const { body } = await terrarium(fixture('replay_inputs.py').toString(), [
      { filename: 'test_file_input.jpg', b64_data: jpg.toString('base64') },
      { filename: 'test_file_input.json', b64_data: json.toString('base64') },
    ])
    assert.equal(body.success, true, JSON.stringify(body.error))
    assert.deepEqual(body.std_out.trim().split('\n').sort(), ['test_file_input.jpg', 'test_file_input.json'])
    const files = outputs(body)
    assert.deepEqual(Object.keys(files).sort(), ['test_file_output.jpg', 'test_file_output.json'], 'inputs are not returned')
    assert.ok(files['test_file_output.jpg'].equals(jpg))
    assert.ok(files['test_file_output.json'].equals(json))
  })

  it('returns final expressions as JSON values', async () => {
    assert.equal((await terrarium('"text"')).body.final_expression, 'text')
    assert.equal((await terrarium('2.5 * 2')).body.final_expression, 5)
    assert.equal((await terrarium('1 == 1')).body.final_expression, true)
    assert.equal((await terrarium('None')).body.final_expression, undefined)
  })

  it('is stateless: nothing carries over between calls', async () => {
    await terrarium('leftover = 1\nopen("leftover.txt", "w").write("x")')
    const { body } = await terrarium('import os\nprint("leftover" in globals(), os.listdir("."))')
    assert.equal(body.std_out, 'False []\n')
  })

  it('answers bad requests as Terrarium does', async () => {
    const empty = await terrarium('   ')
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.body, { success: false, error: { type: 'parsing', message: 'no code provided' } })
    const missing = await terrarium('1', [{ filename: 'x.txt' }])
    assert.equal(missing.body.success, false)
    assert.equal(missing.body.error.type, 'parsing')
  })

  it('needs the API key', async () => {
    const { status } = await terrarium('1', undefined, 'wrong-key')
    assert.equal(status, 401)
  })

  after(() => {
    assert.deepEqual(contactedHosts().filter(h => h !== '127.0.0.1'), [])
  })
})
