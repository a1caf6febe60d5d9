/**
 * UTF-8 TextEncoder / TextDecoder for an isolate, which has neither. They
 * follow the WHATWG Encoding Standard: lone surrogates encode as U+FFFD,
 * invalid byte sequences decode as U+FFFD (one per maximal subpart), a
 * leading BOM is dropped unless `ignoreBOM`, `fatal` throws instead.
 */

/**
 * Host function: decodes complete UTF-8 bytes natively (copied out and the
 * string copied in); null when `fatal` and they are not valid UTF-8.
 */
export type HostUtf8Decode = (bytes: Uint8Array, fatal: boolean, ignoreBOM: boolean) => unknown;

/** Below this many bytes the guest decodes itself: the host call costs more. */
const HOST_DECODE_MIN_BYTES = 1024;
/**
 * Bytes per second one isolate may have the host decode. The host's time is
 * not the isolate's CPU time: past this the guest decodes itself, under its
 * CPU limit. Generous: a render decoding its backends' JSON needs far less.
 */
const HOST_DECODE_BYTES_PER_S = 64 * 1024 * 1024;

let hostDecode: HostUtf8Decode | undefined;
let hostNow: () => number = Date.now;
let windowStart = 0;
let windowBytes = 0;

/**
 * Lets large, complete decodes go to the host (~20× faster than the guest's
 * own decoder on a 24 KB JSON body). `now` is captured before the bundle
 * runs, so that it cannot reset the budget by patching `Date.now`.
 */
export function setHostUtf8Decode(decode: HostUtf8Decode, now: () => number): void {
  hostDecode = decode;
  hostNow = now;
}

function hostBudget(bytes: number): boolean {
  const t = hostNow();
  if (t - windowStart >= 1000) {
    windowStart = t;
    windowBytes = 0;
  }
  if (windowBytes + bytes > HOST_DECODE_BYTES_PER_S) return false;
  windowBytes += bytes;
  return true;
}

/** A character past ASCII (for TextEncoder's fast path). */
const NON_ASCII = /[\u0080-\uffff]/;

const UTF8_LABELS = new Set([
  'utf-8',
  'utf8',
  'unicode-1-1-utf-8',
  'unicode11utf8',
  'unicode20utf8',
  'x-unicode20utf8',
]);

/** Code point at `i` of `s` (U+FFFD for a lone surrogate) and its length in UTF-16 units. */
function codePointAt(s: string, i: number): [number, number] {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return [0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00), 2];
  }
  if (c >= 0xd800 && c <= 0xdfff) return [0xfffd, 1];
  return [c, 1];
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

function writeUtf8(cp: number, out: Uint8Array, at: number): number {
  if (cp < 0x80) {
    out[at] = cp;
    return 1;
  }
  if (cp < 0x800) {
    out[at] = 0xc0 | (cp >> 6);
    out[at + 1] = 0x80 | (cp & 63);
    return 2;
  }
  if (cp < 0x10000) {
    out[at] = 0xe0 | (cp >> 12);
    out[at + 1] = 0x80 | ((cp >> 6) & 63);
    out[at + 2] = 0x80 | (cp & 63);
    return 3;
  }
  out[at] = 0xf0 | (cp >> 18);
  out[at + 1] = 0x80 | ((cp >> 12) & 63);
  out[at + 2] = 0x80 | ((cp >> 6) & 63);
  out[at + 3] = 0x80 | (cp & 63);
  return 4;
}

export class GuestTextEncoder {
  get encoding(): string {
    return 'utf-8';
  }

  encode(input = ''): Uint8Array {
    const s = String(input);
    if (!NON_ASCII.test(s)) {
      // Most markup is ASCII: a byte each, no worst-case buffer to cut down
      // after (the regular expression runs natively, ~1/4 of the loop's time).
      const ascii = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) ascii[i] = s.charCodeAt(i);
      return ascii;
    }
    const out = new Uint8Array(s.length * 3);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      // Inline, without codePointAt's pair: most text is ASCII, a byte each.
      if (c < 0x80) {
        out[n++] = c;
        continue;
      }
      let cp = c;
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (d >= 0xdc00 && d <= 0xdfff) {
          cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else cp = 0xfffd;
      }
      n += writeUtf8(cp, out, n);
    }
    return out.slice(0, n);
  }

  /** Writes whole characters only; `read` counts UTF-16 code units. */
  encodeInto(input: string, dest: Uint8Array): { read: number; written: number } {
    const s = String(input);
    let read = 0;
    let written = 0;
    while (read < s.length) {
      const [cp, units] = codePointAt(s, read);
      if (written + utf8Length(cp) > dest.length) break;
      written += writeUtf8(cp, dest, written);
      read += units;
    }
    return { read, written };
  }
}

export interface TextDecoderOptions {
  fatal?: boolean;
  ignoreBOM?: boolean;
}

export class GuestTextDecoder {
  readonly #fatal: boolean;
  readonly #ignoreBOM: boolean;
  // Decoder state carried between `decode(…, { stream: true })` calls.
  #needed = 0;
  #seen = 0;
  #cp = 0;
  #lower = 0x80;
  #upper = 0xbf;
  #bomChecked = false;

  constructor(label = 'utf-8', options: TextDecoderOptions = {}) {
    if (!UTF8_LABELS.has(String(label).trim().toLowerCase())) {
      throw new RangeError(`TextDecoder: encoding "${label}" is not supported (only utf-8)`);
    }
    this.#fatal = Boolean(options.fatal);
    this.#ignoreBOM = Boolean(options.ignoreBOM);
  }

  get encoding(): string {
    return 'utf-8';
  }

  get fatal(): boolean {
    return this.#fatal;
  }

  get ignoreBOM(): boolean {
    return this.#ignoreBOM;
  }

  decode(input?: ArrayBuffer | ArrayBufferView, options: { stream?: boolean } = {}): string {
    const bytes =
      input === undefined
        ? new Uint8Array(0)
        : input instanceof ArrayBuffer
          ? new Uint8Array(input)
          : ArrayBuffer.isView(input)
            ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
            : null;
    if (bytes === null)
      throw new TypeError('TextDecoder.decode needs an ArrayBuffer or a view of one');
    const stream = Boolean(options.stream);
    if (
      hostDecode !== undefined &&
      !stream &&
      this.#needed === 0 &&
      !this.#bomChecked &&
      bytes.length >= HOST_DECODE_MIN_BYTES &&
      hostBudget(bytes.length)
    ) {
      // A view would carry its whole buffer out: only its own bytes go.
      const own =
        bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
          ? bytes
          : bytes.slice();
      const text = hostDecode(own, this.#fatal, this.#ignoreBOM);
      if (typeof text === 'string') return text;
      if (this.#fatal) throw new TypeError('The encoded data was not valid utf-8');
      // Otherwise the guest's own decoder below (the host cannot fail then).
    }
    const units: number[] = [];
    let out = '';
    const flush = () => {
      out += String.fromCharCode(...units);
      units.length = 0;
    };
    const emit = (cp: number) => {
      if (!this.#bomChecked) {
        this.#bomChecked = true;
        if (cp === 0xfeff && !this.#ignoreBOM) return;
      }
      if (cp >= 0x10000) {
        const v = cp - 0x10000;
        units.push(0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else units.push(cp);
      if (units.length >= 8192) flush();
    };
    const error = () => {
      if (this.#fatal) {
        this.#reset();
        this.#bomChecked = false;
        throw new TypeError('The encoded data was not valid utf-8');
      }
      emit(0xfffd);
    };
    let i = 0;
    while (i < bytes.length) {
      const b = bytes[i] ?? 0;
      if (this.#needed === 0 && b <= 0x7f) {
        // A run of ASCII bytes (most of any JSON or markup): one
        // String.fromCharCode per chunk, not one emit per byte.
        let end = i + 1;
        while (end < bytes.length && (bytes[end] ?? 0x80) <= 0x7f) end++;
        flush();
        this.#bomChecked = true; // an ASCII character is no BOM
        for (let at = i; at < end; at += 8192) {
          const chunk = bytes.subarray(at, Math.min(end, at + 8192));
          out += String.fromCharCode.apply(null, chunk as unknown as number[]);
        }
        i = end;
        continue;
      }
      if (this.#needed === 0) {
        i++;
        if (b <= 0x7f) emit(b);
        else if (b >= 0xc2 && b <= 0xdf) {
          this.#needed = 1;
          this.#cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) this.#lower = 0xa0;
          if (b === 0xed) this.#upper = 0x9f;
          this.#needed = 2;
          this.#cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) this.#lower = 0x90;
          if (b === 0xf4) this.#upper = 0x8f;
          this.#needed = 3;
          this.#cp = b & 0x7;
        } else error();
        continue;
      }
      if (b < this.#lower || b > this.#upper) {
        // Invalid continuation: the partial sequence is one error and `b`
        // is looked at again as the start of a new sequence.
        this.#reset();
        error();
        continue;
      }
      i++;
      this.#lower = 0x80;
      this.#upper = 0xbf;
      this.#cp = (this.#cp << 6) | (b & 0x3f);
      this.#seen++;
      if (this.#seen === this.#needed) {
        const cp = this.#cp;
        this.#reset();
        emit(cp);
      }
    }
    if (!stream) {
      if (this.#needed !== 0) {
        this.#reset();
        error();
      }
      this.#bomChecked = false;
    }
    flush();
    return out;
  }

  #reset(): void {
    this.#needed = 0;
    this.#seen = 0;
    this.#cp = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }
}
