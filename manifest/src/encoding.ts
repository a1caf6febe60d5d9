/**
 * Percent-encoding helpers shared by patterns, queries and cache keys. Plain
 * ES only (no `URL`, no `TextDecoder`): the shield and the isolate run them.
 *
 * @module
 */

/**
 * Decodes `%XX` escapes (UTF-8). A component with a malformed escape or
 * invalid UTF-8 is returned as written, so a bad path never throws.
 */
export function decodePathComponent(component: string): string {
  if (!component.includes('%')) return component;
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

/**
 * Decodes one `application/x-www-form-urlencoded` component: `+` is a
 * space, `%XX` escapes are UTF-8. Malformed input is returned as written
 * (after the `+` replacement).
 */
export function decodeQueryComponent(component: string): string {
  return decodePathComponent(component.includes('+') ? component.replaceAll('+', ' ') : component);
}

const PATH_SAFE: Record<string, string> = {
  '%3A': ':',
  '%40': '@',
  '%24': '$',
  '%26': '&',
  '%2B': '+',
  '%2C': ',',
  '%3B': ';',
  '%3D': '=',
};

/**
 * Encodes text as one path segment: like `encodeURIComponent`, but keeps the
 * sub-delimiters a path segment may hold (`: @ $ & + , ; =`) readable. A `/`
 * in `text` is encoded (`%2F`). Lone surrogates become U+FFFD.
 */
export function encodePathSegment(text: string): string {
  return encodeURIComponent(text.toWellFormed()).replace(
    /%(?:3A|40|24|26|2B|2C|3B|3D)/g,
    (esc) => PATH_SAFE[esc] ?? esc,
  );
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * Encodes text for a cache key or a normalised query: every character but
 * the unreserved ones (`A-Z a-z 0-9 - . _ ~`) as upper-case `%XX` UTF-8. The
 * encoding is injective: distinct strings give distinct encodings, and the
 * result never holds `|`, `&`, `=`, `?`, `/`, `:` or a space.
 */
export function encodeStrict(text: string): string {
  return encodeURIComponent(text.toWellFormed()).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Normalises a percent-encoded path for a cache key: escapes of unreserved
 * characters are decoded (`%7E` → `~`), other escapes get upper-case hex,
 * and every character outside the unreserved set, `/` and the
 * sub-delimiters `! $ & ' ( ) * + , ; = : @` is encoded (so `|`, `?`,
 * spaces and non-ASCII never appear raw). Two spellings of the same path
 * (RFC 3986 §6.2.2) give the same result.
 */
export function normalizeKeyPath(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i] as string;
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(path.slice(i + 1, i + 3))) {
      const hex = path.slice(i + 1, i + 3).toUpperCase();
      const decoded = String.fromCharCode(Number.parseInt(hex, 16));
      out += UNRESERVED.test(decoded) ? decoded : `%${hex}`;
      i += 2;
    } else if (UNRESERVED.test(c) || /[/!$&'()*+,;=:@]/.test(c)) {
      out += c;
    } else {
      const code = path.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(code);
      if (code > 0xffff) i++;
      out += encodeURIComponent(char.toWellFormed());
    }
  }
  return out;
}
