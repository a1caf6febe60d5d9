/**
 * Device class, browser family, bot flag and device vendor of a request,
 * from its `User-Agent`, as the cache key (`addDevice()`, `addBrowser()`,
 * `addIsBot()`, `addVendor()`) and the handler (request headers
 * `x-flotilla-device`, `x-flotilla-browser`, `x-flotilla-is-bot`,
 * `x-flotilla-vendor`) see them.
 *
 * Parsing is done by [Bowser](https://github.com/bowser-js/bowser) (MIT),
 * not by regular expressions of our own; this module only maps Bowser's
 * platform type, OS and browser names onto Flotilla's few classes.
 *
 * @module
 */

import { InvalidOptionError } from '@flotilla/protocol';
import { getParser } from 'bowser';

/**
 * The device class of a request:
 * - `smartphone`: a phone running a touch-first OS (iOS, Android, Windows
 *   Phone, HarmonyOS, Tizen, webOS), and mobile search-engine crawlers that
 *   present such a phone (Googlebot smartphone);
 * - `tablet`: iPad (when it says so), Android tablets, Kindle Fire…;
 * - `mobile`: other phones: feature phones (Series 40, J2ME, KaiOS,
 *   Symbian, BlackBerry OS, Opera Mini on Java phones);
 * - `desktop`: everything else, including TVs, consoles, unknown clients,
 *   an empty or missing `User-Agent`, and iPads in "desktop website" mode
 *   (they send a Mac `User-Agent`).
 */
export type DeviceClass = 'smartphone' | 'tablet' | 'mobile' | 'desktop';

/** The device classes, in no particular order. */
export const DEVICE_CLASSES: readonly DeviceClass[] = Object.freeze([
  'smartphone',
  'tablet',
  'mobile',
  'desktop',
]);

/**
 * The browser family of a request. Browsers built on another engine keep
 * their brand: Chrome on iOS (`CriOS`) is `chrome`, Edge is `edge`,
 * Samsung Internet is `samsung`, Opera is `opera`. Everything else
 * (crawlers, Internet Explorer, UC Browser, command-line clients) is `other`.
 */
export type BrowserFamily =
  | 'chrome'
  | 'edge'
  | 'firefox'
  | 'safari'
  | 'opera'
  | 'samsung'
  | 'other';

/** The browser families, in no particular order. */
export const BROWSER_FAMILIES: readonly BrowserFamily[] = Object.freeze([
  'chrome',
  'edge',
  'firefox',
  'safari',
  'opera',
  'samsung',
  'other',
]);

/**
 * The device vendor of a request, as EdgeJS's `addVendor()` keys it:
 * `apple` (iOS, iPadOS, macOS), `android`, else `generic` (including an
 * empty or missing `User-Agent`).
 */
export type DeviceVendor = 'apple' | 'android' | 'generic';

/** The device vendors, in no particular order. */
export const DEVICE_VENDORS: readonly DeviceVendor[] = Object.freeze([
  'apple',
  'android',
  'generic',
]);

/**
 * Longest `User-Agent` prefix handed to the parser. Real ones are a few
 * hundred bytes; the cap bounds the parser's work on a 32 KB header.
 */
export const MAX_USER_AGENT_CHARS = 1024;

// Bowser OS names (its OS_MAP values) of touch-first phone systems.
const SMARTPHONE_OS = new Set(['ios', 'android', 'windows phone', 'harmonyos', 'tizen', 'webos']);
// Bowser browser names (its BROWSER_MAP values, lower case) → family.
const FAMILY_OF: ReadonlyMap<string, BrowserFamily> = new Map([
  ['chrome', 'chrome'],
  ['chromium', 'chrome'],
  ['microsoft edge', 'edge'],
  ['firefox', 'firefox'],
  ['focus', 'firefox'],
  ['safari', 'safari'],
  ['opera', 'opera'],
  ['opera coast', 'opera'],
  ['samsung internet for android', 'samsung'],
]);

function parserFor(userAgent: string | undefined) {
  const ua = (userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS).trim();
  // Bowser refuses an empty string.
  return ua === '' ? undefined : getParser(ua, true);
}

/**
 * The device class of a `User-Agent`.
 *
 * @example
 * classifyDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) …'); // 'smartphone'
 * classifyDevice('Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1'); // 'mobile'
 * classifyDevice(undefined); // 'desktop'
 */
export function classifyDevice(userAgent: string | undefined): DeviceClass {
  const parser = parserFor(userAgent);
  if (!parser) return 'desktop';
  const platform = parser.getPlatformType(true);
  if (platform === 'tablet') return 'tablet';
  const os = parser.getOSName(true);
  if (platform === 'mobile') return SMARTPHONE_OS.has(os) ? 'smartphone' : 'mobile';
  // Crawlers announcing a phone (Googlebot smartphone, bingbot mobile) get the
  // phone page, as the site's phone users would.
  if (platform === 'bot' && (os === 'android' || os === 'ios')) return 'smartphone';
  return 'desktop';
}

/**
 * The browser family of a `User-Agent`.
 *
 * @example
 * browserFamily('Mozilla/5.0 (Windows NT 10.0; Win64; x64) … Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67'); // 'edge'
 * browserFamily('curl/8.5.0'); // 'other'
 */
export function browserFamily(userAgent: string | undefined): BrowserFamily {
  const parser = parserFor(userAgent);
  if (!parser) return 'other';
  return FAMILY_OF.get(parser.getBrowserName(true)) ?? 'other';
}

/**
 * Whether a `User-Agent` is a bot: a crawler Bowser knows (Googlebot,
 * bingbot, DuckDuckBot, GPTBot, ClaudeBot, PerplexityBot, …).
 *
 * @example
 * isBotUserAgent('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'); // true
 * isBotUserAgent(undefined); // false
 */
export function isBotUserAgent(userAgent: string | undefined): boolean {
  return parserFor(userAgent)?.getPlatformType(true) === 'bot';
}

/**
 * The device vendor of a `User-Agent` ({@link DeviceVendor}).
 *
 * @example
 * deviceVendor('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) …'); // 'apple'
 * deviceVendor('Mozilla/5.0 (Linux; Android 14; Pixel 8) …');               // 'android'
 */
export function deviceVendor(userAgent: string | undefined): DeviceVendor {
  const os = parserFor(userAgent)?.getOSName(true);
  if (os === 'ios' || os === 'macos') return 'apple';
  if (os === 'android') return 'android';
  return 'generic';
}

/** What {@link UserAgentClassifier.classify} returns. */
export interface UserAgentClass {
  device: DeviceClass;
  browser: BrowserFamily;
  /** A crawler ({@link isBotUserAgent}). */
  isBot: boolean;
  vendor: DeviceVendor;
}

/** Options of {@link UserAgentClassifier}. */
export interface UserAgentClassifierOptions {
  /**
   * How many distinct `User-Agent` strings are remembered (least recently
   * used forgotten first); 0 remembers none.
   * @default 2000
   */
  maxEntries?: number;
}

/**
 * {@link classifyDevice}, {@link browserFamily}, {@link isBotUserAgent} and
 * {@link deviceVendor} with a bounded memo:
 * a site sees few distinct `User-Agent` strings, and parsing one costs
 * about 15 µs.
 *
 * @example
 * const ua = new UserAgentClassifier({ maxEntries: 5000 });
 * ua.classify(req.headers['user-agent']); // { device: 'smartphone', browser: 'safari' }
 */
export class UserAgentClassifier {
  readonly #max: number;
  readonly #memo = new Map<string, UserAgentClass>();

  constructor(options: UserAgentClassifierOptions = {}) {
    const max = options.maxEntries ?? 2000;
    if (!Number.isSafeInteger(max) || max < 0) {
      throw new InvalidOptionError('maxEntries', `must be a non-negative integer, got ${max}`);
    }
    this.#max = max;
  }

  /** Device class and browser family of `userAgent` (memoised). */
  classify(userAgent: string | undefined): UserAgentClass {
    const ua = (userAgent ?? '').slice(0, MAX_USER_AGENT_CHARS);
    const known = this.#memo.get(ua);
    if (known) {
      // Refresh: Map iteration order is insertion order, so the oldest key is first.
      this.#memo.delete(ua);
      this.#memo.set(ua, known);
      return known;
    }
    const result = Object.freeze({
      device: classifyDevice(ua),
      browser: browserFamily(ua),
      isBot: isBotUserAgent(ua),
      vendor: deviceVendor(ua),
    });
    if (this.#max > 0) {
      if (this.#memo.size >= this.#max) {
        const oldest = this.#memo.keys().next();
        if (!oldest.done) this.#memo.delete(oldest.value);
      }
      this.#memo.set(ua, result);
    }
    return result;
  }

  /** Strings remembered now. */
  get size(): number {
    return this.#memo.size;
  }
}
