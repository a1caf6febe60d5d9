/**
 * atob and btoa (HTML "forgiving-base64"), by hand: ~40 lines, and it needs
 * the guest's DOMException for InvalidCharacterError anyway.
 */
import { domError } from './dom-exception.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

function required(name: string, args: number): void {
  if (args === 0)
    throw new TypeError(`Failed to execute '${name}': 1 argument required, but only 0 present.`);
}

/** Latin-1 string → base64. A code unit above 0xFF is an InvalidCharacterError. */
export function btoa(this: unknown, data: unknown): string {
  // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument from undefined; length stays 1
  required('btoa', arguments.length);
  const s = String(data);
  let out = '';
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    const c = i + 2 < s.length ? s.charCodeAt(i + 2) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) {
      throw domError('InvalidCharacterError', 'Invalid character');
    }
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63);
    out += i + 1 < s.length ? ALPHABET.charAt((n >> 6) & 63) : '=';
    out += i + 2 < s.length ? ALPHABET.charAt(n & 63) : '=';
  }
  return out;
}

/** base64 → Latin-1 string; ASCII whitespace is skipped; malformed input is an InvalidCharacterError. */
export function atob(this: unknown, data: unknown): string {
  // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument from undefined; length stays 1
  required('atob', arguments.length);
  let s = String(data).replace(/[\t\n\f\r ]/g, '');
  if (s.length % 4 === 0) s = s.replace(/==?$/, '');
  if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s)) {
    throw domError('InvalidCharacterError', 'The string to be decoded is not correctly encoded.');
  }
  let out = '';
  let bits = 0;
  let buffer = 0;
  for (let i = 0; i < s.length; i++) {
    buffer = ((buffer << 6) | (VALUE[s.charCodeAt(i)] ?? 0)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}
