// Server-Sent Events read from a fetch() body. EventSource can neither POST nor send an
// Authorization header, so the playground parses the stream itself (the format is in the
// HTML standard, "event stream interpretation"; only `event` and `data` matter here).

/** An incremental parser: feed it decoded text in chunks of any size, take out whole events. */
export class SseParser {
  #buffer = '';
  #event = '';
  #data = [];

  /**
   * @param {string} text the next decoded chunk
   * @returns {{event: string, data: string}[]} the events this chunk completed
   */
  push(text) {
    this.#buffer += text;
    const events = [];
    const lineBreak = /\r\n|\r|\n/g;
    let consumed = 0;
    let match;
    while ((match = lineBreak.exec(this.#buffer)) !== null) {
      // A chunk may end between the \r and the \n of one line break.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) {
        break;
      }
      const event = this.#line(this.#buffer.slice(consumed, match.index));
      consumed = lineBreak.lastIndex;
      if (event) {
        events.push(event);
      }
    }
    this.#buffer = this.#buffer.slice(consumed);
    return events;
  }

  #line(line) {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        return null;
      }
      const event = { event: this.#event || 'message', data: this.#data.join('\n') };
      this.#event = '';
      this.#data = [];
      return event;
    }
    if (line.startsWith(':')) {
      return null; // a comment: the server's keep-alive
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      this.#event = value;
    } else if (field === 'data') {
      this.#data.push(value);
    }
    return null;
  }
}

/**
 * Yields the events of a response body as they arrive.
 * @param {ReadableStream<Uint8Array>} body
 */
export async function* readEventStream(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        // An event not followed by a blank line is incomplete and is dropped, as the standard says.
        parser.push(decoder.decode());
        return;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
}
