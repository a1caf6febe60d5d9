/** Minimal web-standard Headers, Request and Response for bundles. */
import { HEADER_NAME, UNSAFE_HEADER_VALUE } from '@flotilla/protocol/patterns';
import { GuestTextDecoder as TextDecoder, GuestTextEncoder as TextEncoder } from './encoding.ts';
import { AbortSignal, followingSignal } from './events.ts';
import {
  BodyTooLarge,
  isDisturbed,
  isReadableStream,
  type ReadableStream,
  readAllBytes,
  streamOfBytes,
} from './streams.ts';

type HeadersInit = Headers | Iterable<readonly [string, string]> | Record<string, string>;

function normName(name: string): string {
  const n = String(name).toLowerCase();
  if (!HEADER_NAME.test(n)) throw new TypeError(`invalid header name: ${name}`);
  return n;
}

/** Strips leading and trailing HTTP whitespace; refuses NUL, CR and LF (header injection). */
function normValue(name: string, value: string): string {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (UNSAFE_HEADER_VALUE.test(v)) throw new TypeError(`invalid value for header ${name}`);
  return v;
}

export class Headers {
  readonly #map = new Map<string, string[]>();

  constructor(init?: HeadersInit) {
    if (init === undefined || init === null) return;
    if (typeof init !== 'object') throw new TypeError('Headers init must be an object or iterable');
    if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const pair of init as Iterable<readonly [string, string]>) {
        if (pair === null || typeof pair !== 'object' || [...pair].length !== 2) {
          throw new TypeError('Headers init pairs must have exactly two items');
        }
        const [k, v] = pair;
        this.append(k, v);
      }
    } else {
      const record = init as Record<string, string>;
      for (const k of Object.keys(record)) this.append(k, String(record[k]));
    }
  }

  append(name: string, value: string): void {
    const n = normName(name);
    const v = normValue(n, value);
    const list = this.#map.get(n);
    if (list) list.push(v);
    else this.#map.set(n, [v]);
  }

  set(name: string, value: string): void {
    const n = normName(name);
    this.#map.set(n, [normValue(n, value)]);
  }

  /** All values of `name` joined with `, ` (also for `set-cookie`: use getSetCookie). */
  get(name: string): string | null {
    const list = this.#map.get(normName(name));
    return list ? list.join(', ') : null;
  }

  getSetCookie(): string[] {
    return [...(this.#map.get('set-cookie') ?? [])];
  }

  has(name: string): boolean {
    return this.#map.has(normName(name));
  }

  delete(name: string): void {
    this.#map.delete(normName(name));
  }

  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this) cb.call(thisArg, v, k, this);
  }

  /** Sorted by name; values of one name joined, except `set-cookie` (one entry each). */
  *entries(): IterableIterator<[string, string]> {
    const keys = [...this.#map.keys()].sort();
    for (const k of keys) {
      const list = this.#map.get(k) ?? [];
      if (k === 'set-cookie') for (const v of list) yield [k, v];
      else yield [k, list.join(', ')];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  /** @internal list form for the host. */
  toList(): Array<[string, string]> {
    return [...this.entries()];
  }
}

export type BodyInit =
  | string
  | ArrayBuffer
  | ArrayBufferView
  | ReadableStream<Uint8Array>
  | null
  | undefined;

/** Splits a body into text or a private copy of its bytes (later writes to the source don't leak in). */
function bodyToParts(body: BodyInit): { text: string | null; bytes: Uint8Array | null } {
  if (body === null || body === undefined) return { text: null, bytes: null };
  if (typeof body === 'string') return { text: body, bytes: null };
  if (body instanceof ArrayBuffer) return { text: null, bytes: new Uint8Array(body.slice(0)) };
  if (ArrayBuffer.isView(body)) {
    return {
      text: null,
      bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice(),
    };
  }
  return { text: String(body), bytes: null };
}

abstract class Body {
  protected bodyText: string | null;
  protected bodyBytes: Uint8Array | null;
  /** A stream body (given, or made by the `body` getter); then text and bytes are null. */
  #stream: ReadableStream<Uint8Array> | null = null;
  #used = false;

  constructor(body: BodyInit) {
    if (isReadableStream(body)) {
      if (body.locked || isDisturbed(body)) {
        throw new TypeError('body stream is locked or has already been read');
      }
      this.#stream = body as ReadableStream<Uint8Array>;
      this.bodyText = null;
      this.bodyBytes = null;
      return;
    }
    const parts = bodyToParts(body as Exclude<BodyInit, ReadableStream>);
    this.bodyText = parts.text;
    this.bodyBytes = parts.bytes;
  }

  /** The body as a ReadableStream of bytes (null for no body); reading it uses the body. */
  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream === null && !this.#used) {
      const bytes =
        this.bodyBytes ?? (this.bodyText !== null ? new TextEncoder().encode(this.bodyText) : null);
      if (bytes === null) return null;
      this.#stream = streamOfBytes(bytes);
      this.bodyText = null;
      this.bodyBytes = null;
    }
    return this.#stream;
  }

  get bodyUsed(): boolean {
    return this.#used || (this.#stream !== null && isDisturbed(this.#stream));
  }

  #consume(): void {
    if (this.bodyUsed) throw new TypeError('body has already been used');
    if (this.#stream?.locked) throw new TypeError('body stream is locked');
    // A null body is never "used" (as in the Fetch standard).
    if (this.bodyText !== null || this.bodyBytes !== null) this.#used = true;
  }

  async text(): Promise<string> {
    this.#consume();
    if (this.#stream !== null) return new TextDecoder().decode(await readAllBytes(this.#stream));
    if (this.bodyText !== null) return this.bodyText;
    if (this.bodyBytes !== null) return new TextDecoder().decode(this.bodyBytes);
    return '';
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async bytes(): Promise<Uint8Array> {
    this.#consume();
    if (this.#stream !== null) return readAllBytes(this.#stream);
    if (this.bodyBytes !== null) return this.bodyBytes.slice();
    if (this.bodyText !== null) return new TextEncoder().encode(this.bodyText);
    return new Uint8Array(0);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.bytes()).buffer as ArrayBuffer;
  }

  protected assertUnused(what: string): void {
    if (this.bodyUsed || this.#stream?.locked) {
      throw new TypeError(`cannot ${what}: body has already been used`);
    }
  }

  /**
   * The body for a copy (clone, or a Request made from this one): text and
   * bytes are shared (never changed in place); a stream is teed, this body
   * keeping one branch.
   */
  protected bodyForCopy(): BodyInit {
    if (this.#stream !== null) {
      const [mine, theirs] = this.#stream.tee();
      this.#stream = mine;
      return theirs;
    }
    return this.bodyBytes ?? this.bodyText;
  }

  /**
   * @internal text or bytes for the host; a stream body is read to its end.
   * Past `maxBytes` (the render's output cap) it rejects with
   * {@link BodyTooLarge} before anything is copied: a stream is cancelled at
   * the chunk that crosses it, bytes are measured, and text is measured in
   * UTF-16 units (its UTF-8 is at least as long; the host checks the exact
   * size of what passes).
   */
  /**
   * @internal the body stream for the host to stream out chunk by chunk,
   * marked used; null for a text or bytes body (sent whole with
   * {@link toParts}).
   */
  takeStream(): ReadableStream<Uint8Array> | null {
    if (this.#stream === null) return null;
    this.#consume();
    return this.#stream;
  }

  async toParts(
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<{ text: string | null; bytes: Uint8Array | null }> {
    if (this.#stream !== null) {
      this.#consume();
      return { text: null, bytes: await readAllBytes(this.#stream, maxBytes) };
    }
    const size = this.bodyBytes?.byteLength ?? this.bodyText?.length ?? 0;
    if (size > maxBytes) throw new BodyTooLarge(size, maxBytes);
    return { text: this.bodyText, bytes: this.bodyBytes };
  }
}

export interface RequestInit {
  method?: string;
  headers?: HeadersInit;
  body?: BodyInit;
  /** The request's signal follows this one (`null`: a signal of its own that never aborts). */
  signal?: AbortSignal | null;
}

let signalGiven: (request: Request) => AbortSignal | null;
let setSignal: (request: Request, signal: AbortSignal) => void;

export class Request extends Body {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /** Made on first read when nothing could abort it (most requests never read it). */
  #signal: AbortSignal | null = null;

  static {
    signalGiven = (request) => request.#signal;
    setSignal = (request, signal) => {
      request.#signal = signal;
    };
  }

  constructor(input: string | Request, init: RequestInit = {}) {
    const from = input instanceof Request ? input : null;
    if (from && init.body === undefined) from.assertUnused('construct a Request from it');
    const signal = init.signal !== undefined ? init.signal : from ? from.#signal : null;
    if (signal !== null && !(signal instanceof AbortSignal)) {
      throw new TypeError("Request: init's signal must be an AbortSignal or null");
    }
    super(init.body ?? (from ? from.bodyForCopy() : null));
    this.url = from ? from.url : String(input);
    this.method = String(init.method ?? from?.method ?? 'GET').toUpperCase();
    this.headers = new Headers(init.headers ?? from?.headers);
    if (signal !== null) this.#signal = followingSignal(signal);
  }

  /**
   * Aborts when what the request follows aborts: for the request a handler
   * receives, when the render's deadline passes while it still runs.
   */
  get signal(): AbortSignal {
    this.#signal ??= AbortSignal.any([]);
    return this.#signal;
  }

  clone(): Request {
    this.assertUnused('clone');
    return new Request(this);
  }
}

/** The signal a request follows, or null when nothing can abort it (none was given). */
export const abortableSignalOf = (request: Request): AbortSignal | null => signalGiven(request);

/**
 * Makes `signal` itself the signal of `request` (the runtime's request to a
 * handler: its controller is the runtime's, so no signal needs to follow it).
 */
export const attachSignal = (request: Request, signal: AbortSignal): void =>
  setSignal(request, signal);

export interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export class Response extends Body {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;

  constructor(body?: BodyInit, init: ResponseInit = {}) {
    super(body);
    const status = init.status ?? 200;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`Response status ${status} is not in the range 200 to 599`);
    }
    this.status = status;
    this.statusText = init.statusText ?? '';
    this.headers = new Headers(init.headers);
    if (typeof body === 'string' && !this.headers.has('content-type')) {
      this.headers.set('content-type', 'text/plain;charset=UTF-8');
    }
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  clone(): Response {
    this.assertUnused('clone');
    return new Response(this.bodyForCopy(), {
      status: this.status,
      statusText: this.statusText,
      headers: this.headers,
    });
  }

  static json(data: unknown, init: ResponseInit = {}): Response {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('Response.json: data is not JSON-serializable');
    const headers = new Headers(init.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new Response(text, { ...init, headers });
  }

  static redirect(url: string, status = 302): Response {
    if (!REDIRECT_STATUSES.has(status)) {
      throw new RangeError(`Response.redirect status ${status} is not 301, 302, 303, 307 or 308`);
    }
    return new Response(null, { status, headers: { location: String(url) } });
  }
}
