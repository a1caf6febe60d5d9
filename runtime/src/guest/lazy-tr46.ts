/**
 * Stands in for `tr46` inside whatwg-url (aliased in guest-code.ts): the
 * real UTS #46 module (240 KB, its mapping table built when it loads) is
 * loaded only for a host that needs it.
 *
 * The URL Standard's "domain to ASCII" says: if beStrict is false, the
 * domain is ASCII and no label starts with "xn--" (ASCII case-insensitive),
 * UTS #46 ToASCII is equivalent to ASCII-lowercasing the domain. Nearly
 * every host a server sees is such a domain.
 */
declare const require: (id: string) => unknown;

interface Tr46 {
  toASCII(domain: string, options?: Tr46Options): string | null;
  toUnicode(domain: string, options?: Tr46Options): { domain: string; error: boolean };
}

interface Tr46Options {
  checkHyphens?: boolean;
  useSTD3ASCIIRules?: boolean;
  verifyDNSLength?: boolean;
  [option: string]: unknown;
}

let real: Tr46 | undefined;
/** The bundled tr46 (alias `@flotilla-guest/real-tr46`, resolved from whatwg-url). */
const load = (): Tr46 => {
  real ??= require('@flotilla-guest/real-tr46') as Tr46;
  return real;
};

const NON_ASCII = /[^\0-\x7f]/;
const PUNYCODE_LABEL = /(?:^|\.)xn--/i;

export function toASCII(domain: string, options: Tr46Options = {}): string | null {
  const beStrict =
    options.checkHyphens === true ||
    options.useSTD3ASCIIRules === true ||
    options.verifyDNSLength === true;
  if (!beStrict && !NON_ASCII.test(domain) && !PUNYCODE_LABEL.test(domain)) {
    return domain.toLowerCase(); // ASCII only: toLowerCase changes A-Z and nothing else
  }
  return load().toASCII(domain, options);
}

export function toUnicode(domain: string, options?: Tr46Options) {
  return load().toUnicode(domain, options);
}
