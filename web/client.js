// exitwise demo — talking to the inference worker.

/** A module worker (web/worker.js) behind a promise-per-request interface. */
export class WorkerClient {
  constructor(name) {
    this.name = name;
    this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name });
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    this.broken = null; // the error that ended the worker, if one did
    this.worker.onmessage = (event) => this.receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.broken = new Error(`${name} worker failed: ${event.message || "could not start"}`);
      this.failAll(this.broken);
    };
  }

  receive(msg) {
    const p = this.pending.get(msg.rid);
    if (!p) return;
    if (msg.progress) {
      if (p.onProgress) p.onProgress(msg.progress);
      return;
    }
    this.pending.delete(msg.rid);
    if (msg.ok) {
      p.resolve(msg.result);
    } else {
      const e = new Error(msg.error.message);
      e.code = msg.error.code;
      e.name = msg.error.name;
      p.reject(e);
    }
  }

  failAll(error) {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  /** Sends a request; resolves with the worker's result. */
  request(type, args = {}, { onProgress, transfer } = {}) {
    if (this.closed) return Promise.reject(cancelled());
    if (this.broken) return Promise.reject(this.broken);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ rid: id, type, args }, transfer || []);
    });
  }

  terminate() {
    this.closed = true;
    this.worker.terminate();
    this.failAll(cancelled());
  }
}

export function cancelled() {
  const e = new Error("cancelled");
  e.code = "CANCELLED";
  return e;
}

/**
 * Latest-wins request coalescing: at most one request in flight; while it runs, newer
 * arguments replace older ones and only the newest is sent next. Keeps sliders smooth however
 * fast they move, without queueing stale work.
 */
export class Coalescer {
  constructor(send, onResult, onError) {
    this.send = send;
    this.onResult = onResult;
    this.onError = onError;
    this.next = null;
    this.busy = false;
  }

  push(args) {
    this.next = args;
    if (!this.busy) this.drain();
  }

  async drain() {
    this.busy = true;
    while (this.next) {
      const args = this.next;
      this.next = null;
      try {
        const result = await this.send(args);
        this.onResult(result, args);
      } catch (e) {
        if (e.code !== "CANCELLED") this.onError(e, args);
      }
    }
    this.busy = false;
  }

  /** True when nothing is queued or in flight. */
  get idle() {
    return !this.busy && !this.next;
  }
}
