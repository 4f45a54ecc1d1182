// The HTTP contract of docs/api.md, as the page uses it. Paths are relative so the page also
// works behind a reverse proxy that mounts the server under a prefix.

import { readEventStream } from './sse.js';

/** A refusal from the server, carrying the problem+json `code` when there is one. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{code?: string, title?: string, detail?: string}|null} problem
   */
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the server answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? null;
  }

  static async from(response) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      // A proxy's HTML error page, or an empty body: the status has to do.
    }
    return new ApiError(response.status, problem);
  }
}

const encodePath = (path) => path.split('/').map(encodeURIComponent).join('/');

export class VivariumApi {
  /** @param {() => string} getKey read on every request, so a new key applies at once */
  constructor(getKey) {
    this.getKey = getKey;
  }

  async #send(method, path, { json, body, accept = 'application/json', signal } = {}) {
    const headers = { Authorization: `Bearer ${this.getKey()}`, Accept: accept };
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    const response = await fetch(path, { method, headers, body, signal, cache: 'no-store' });
    if (!response.ok) {
      throw await ApiError.from(response);
    }
    return response;
  }

  /**
   * The session and the server's clock when it answered: expires_at is the server's time, so
   * the countdown is measured against the server's Date header rather than the local clock.
   */
  async #session(response) {
    const session = await response.json();
    const serverDate = Date.parse(response.headers.get('Date') ?? '');
    return { session, skewMs: Number.isNaN(serverDate) ? 0 : serverDate - Date.now() };
  }

  async createSession() {
    return this.#session(await this.#send('POST', 'v1/sessions', { json: {} }));
  }

  async getSession(id) {
    return this.#session(await this.#send('GET', `v1/sessions/${encodeURIComponent(id)}`));
  }

  async restartSession(id) {
    return this.#session(await this.#send('POST', `v1/sessions/${encodeURIComponent(id)}/restart`));
  }

  async deleteSession(id) {
    await this.#send('DELETE', `v1/sessions/${encodeURIComponent(id)}`);
  }

  async interrupt(id) {
    const response = await this.#send('POST', `v1/sessions/${encodeURIComponent(id)}/interrupt`);
    return (await response.json()).interrupted;
  }

  /**
   * Runs code, reporting each output as the server streams it.
   * @param {(event: string, data: any) => void} onEvent called for every event but `done`
   * @returns {Promise<object>} the whole Execution (the `done` event)
   */
  async execute(id, code, onEvent, signal) {
    const response = await this.#send('POST', `v1/sessions/${encodeURIComponent(id)}/execute`, {
      json: { code }, accept: 'text/event-stream', signal,
    });
    if (!(response.headers.get('Content-Type') ?? '').startsWith('text/event-stream')) {
      return response.json(); // a server or proxy that ignored Accept: the same Execution, all at once
    }
    for await (const { event, data } of readEventStream(response.body)) {
      const payload = JSON.parse(data);
      if (event === 'done') {
        return payload;
      }
      onEvent(event, payload);
    }
    throw new Error('the connection closed before the execution finished');
  }

  async listFiles(id) {
    const response = await this.#send('GET', `v1/sessions/${encodeURIComponent(id)}/files`);
    return (await response.json()).files;
  }

  /** @param {File[]} files */
  async uploadFiles(id, files) {
    const form = new FormData();
    for (const file of files) {
      form.append('file', file, file.name);
    }
    const response = await this.#send('POST', `v1/sessions/${encodeURIComponent(id)}/files`, { body: form });
    return (await response.json()).files;
  }

  /** The file's bytes; a plain link cannot carry the Authorization header. */
  async downloadFile(id, path) {
    const response = await this.#send('GET', `v1/sessions/${encodeURIComponent(id)}/files/${encodePath(path)}`, { accept: '*/*' });
    return response.blob();
  }
}
