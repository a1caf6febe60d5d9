import { FlotillaError } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_FAMILIES,
  type BrowserFamily,
  browserFamily,
  classifyDevice,
  DEVICE_CLASSES,
  DEVICE_VENDORS,
  type DeviceClass,
  deviceVendor,
  isBotUserAgent,
  UserAgentClassifier,
} from './user-agent.ts';

// Real User-Agent strings, as browsers, phones and crawlers send them.
const TABLE: Array<[string, string, DeviceClass, BrowserFamily]> = [
  [
    'iPhone Safari',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    'smartphone',
    'safari',
  ],
  [
    'iPhone Chrome (CriOS)',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1',
    'smartphone',
    'chrome',
  ],
  [
    'iPhone Firefox (FxiOS)',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/126.0 Mobile/15E148 Safari/605.1.15',
    'smartphone',
    'firefox',
  ],
  [
    'iPhone Edge (EdgiOS)',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 EdgiOS/125.2535.60 Mobile/15E148 Safari/605.1.15',
    'smartphone',
    'edge',
  ],
  [
    'iPad Safari',
    'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
    'tablet',
    'safari',
  ],
  [
    'Android Chrome (reduced UA)',
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36',
    'smartphone',
    'chrome',
  ],
  [
    'Pixel 8 Pro Chrome',
    'Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
    'smartphone',
    'chrome',
  ],
  [
    'Galaxy Tab S9 Chrome',
    'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'tablet',
    'chrome',
  ],
  [
    'Android tablet Chrome (reduced UA, no "Mobile")',
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
    'tablet',
    'chrome',
  ],
  [
    'Samsung Internet',
    'Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
    'smartphone',
    'samsung',
  ],
  [
    'Firefox for Android',
    'Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0',
    'smartphone',
    'firefox',
  ],
  [
    'Firefox for Android tablet',
    'Mozilla/5.0 (Android 14; Tablet; rv:126.0) Gecko/126.0 Firefox/126.0',
    'tablet',
    'firefox',
  ],
  [
    'Kindle Fire Silk',
    'Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/108.6.1 like Chrome/108.0.5359.220 Safari/537.36',
    'tablet',
    'other',
  ],
  [
    'Windows Phone 8.1',
    'Mozilla/5.0 (Mobile; Windows Phone 8.1; Android 4.0; ARM; Trident/7.0; Touch; rv:11.0; IEMobile/11.0; NOKIA; Lumia 635) like iPhone OS 7_0_3 Mac OS X AppleWebKit/537 (KHTML, like Gecko) Mobile Safari/537',
    'smartphone',
    'other',
  ],
  [
    'KaiOS (Nokia 8110 4G)',
    'Mozilla/5.0 (Mobile; Nokia_8110_4G; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5',
    'mobile',
    'firefox',
  ],
  [
    'Nokia Series 40 UC Browser',
    'Nokia2700c-2/2.0 (09.80) Profile/MIDP-2.1 Configuration/CLDC-1.1 UCWEB/2.0 (Java; U; MIDP-2.0; en-US; nokia2700c-2) U2/1.0.0 UCBrowser/8.8.1.252 U2/1.0.0 Mobile',
    'mobile',
    'other',
  ],
  [
    'Opera Mini on J2ME',
    'Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54',
    'mobile',
    'opera',
  ],
  [
    'Symbian Nokia N97',
    'Mozilla/5.0 (SymbianOS/9.4; Series60/5.0 NokiaN97-1/12.0.024; Profile/MIDP-2.1 Configuration/CLDC-1.1; en-us) AppleWebKit/525 (KHTML, like Gecko) BrowserNG/7.1.18124',
    'mobile',
    'safari',
  ],
  [
    'BlackBerry 9700',
    'BlackBerry9700/5.0.0.862 Profile/MIDP-2.1 Configuration/CLDC-1.1 VendorID/331 UNTRUSTED/1.0 3gpp-gba',
    'mobile',
    'other',
  ],
  [
    'Nokia 6300',
    'Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1',
    'mobile',
    'other',
  ],
  [
    'Chrome on Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
    'desktop',
    'chrome',
  ],
  [
    'Edge on Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67',
    'desktop',
    'edge',
  ],
  [
    'Firefox on Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0',
    'desktop',
    'firefox',
  ],
  [
    'Safari on macOS',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    'desktop',
    'safari',
  ],
  [
    'Chrome on Linux',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
    'desktop',
    'chrome',
  ],
  [
    'Chrome on ChromeOS',
    'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
    'desktop',
    'chrome',
  ],
  [
    'Opera on Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0',
    'desktop',
    'opera',
  ],
  [
    'Internet Explorer 11',
    'Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko',
    'desktop',
    'other',
  ],
  [
    'Googlebot smartphone',
    'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.141 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'smartphone',
    'other',
  ],
  [
    'Googlebot desktop',
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'desktop',
    'other',
  ],
  [
    'Samsung smart TV',
    'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36',
    'desktop',
    'samsung',
  ],
  ['curl', 'curl/8.5.0', 'desktop', 'other'],
];

describe('classifyDevice and browserFamily', () => {
  it('tells bots (addIsBot) and device vendors (addVendor) apart', () => {
    const byName = new Map(TABLE.map(([name, ua]) => [name, ua]));
    const ua = (name: string): string => {
      const found = byName.get(name);
      if (found === undefined) throw new Error(`no ${name} in TABLE`);
      return found;
    };
    expect(isBotUserAgent(ua('Googlebot desktop'))).toBe(true);
    expect(isBotUserAgent(ua('Googlebot smartphone'))).toBe(true);
    expect(
      isBotUserAgent('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)'),
    ).toBe(true);
    expect(isBotUserAgent(ua('iPhone Safari'))).toBe(false);
    expect(isBotUserAgent(undefined)).toBe(false);
    expect(isBotUserAgent('')).toBe(false);
    expect(deviceVendor(ua('iPhone Safari'))).toBe('apple');
    expect(
      deviceVendor(
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
      ),
    ).toBe('apple');
    expect(
      deviceVendor(
        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36',
      ),
    ).toBe('android');
    expect(
      deviceVendor(
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
      ),
    ).toBe('generic');
    expect(deviceVendor(undefined)).toBe('generic');
    for (const [, agent] of TABLE) expect(DEVICE_VENDORS).toContain(deviceVendor(agent));
  });

  it.each(TABLE)('%s', (_name, ua, device, browser) => {
    expect(classifyDevice(ua)).toBe(device);
    expect(browserFamily(ua)).toBe(browser);
  });

  it('covers every device class in the table', () => {
    expect(new Set(TABLE.map((row) => row[2]))).toEqual(new Set(DEVICE_CLASSES));
    for (const row of TABLE) expect(BROWSER_FAMILIES).toContain(row[3]);
  });

  it('treats a missing, empty or blank User-Agent as a desktop of another browser', () => {
    for (const ua of [undefined, '', '   ']) {
      expect(classifyDevice(ua)).toBe('desktop');
      expect(browserFamily(ua)).toBe('other');
    }
  });

  it('stays fast on a 32 KB User-Agent (only a prefix is parsed)', () => {
    const huge = `Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) ${'x;'.repeat(16_000)}`;
    const started = performance.now();
    expect(classifyDevice(huge)).toBe('smartphone');
    browserFamily(huge);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('UserAgentClassifier', () => {
  it('classifies like the plain functions and remembers at most maxEntries strings', () => {
    const classifier = new UserAgentClassifier({ maxEntries: 3 });
    for (const [, ua, device, browser] of TABLE) {
      expect(classifier.classify(ua)).toEqual({
        device,
        browser,
        isBot: isBotUserAgent(ua),
        vendor: deviceVendor(ua),
      });
      expect(classifier.size).toBeLessThanOrEqual(3);
    }
    const again = classifier.classify(TABLE[0]?.[1]);
    expect(classifier.classify(TABLE[0]?.[1])).toBe(again);
  });

  it('forgets the least recently used string first', () => {
    const classifier = new UserAgentClassifier({ maxEntries: 2 });
    const a = classifier.classify('curl/8.5.0');
    classifier.classify('Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1');
    expect(classifier.classify('curl/8.5.0')).toBe(a); // refreshed: now the newest
    classifier.classify('Wget/1.21');
    expect(classifier.classify('curl/8.5.0')).toBe(a);
  });

  it('remembers nothing with maxEntries 0', () => {
    const classifier = new UserAgentClassifier({ maxEntries: 0 });
    classifier.classify('curl/8.5.0');
    expect(classifier.size).toBe(0);
  });

  it('names a bad option', () => {
    expect(() => new UserAgentClassifier({ maxEntries: -1 })).toThrow(FlotillaError);
    expect(() => new UserAgentClassifier({ maxEntries: 1.5 })).toThrow(/maxEntries/);
  });
});
