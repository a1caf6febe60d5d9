import { describe, expect, it } from 'vitest';
import { parseRedirectFile } from './redirects-file.ts';

describe('parseRedirectFile', () => {
  it('reads Edgio-style CSV: header, optional status and forwardQueryString, quoted cells', () => {
    const csv = [
      'from,to,status,forwardQueryString',
      '/a,/b,,',
      '/c,"https://example.com/d,e",308,true',
      '',
      '/f,/g,302,FALSE',
    ].join('\n');
    expect(parseRedirectFile('r.csv', csv)).toEqual([
      { line: 2, row: { from: '/a', to: '/b', status: 301, forwardQueryString: false } },
      {
        line: 3,
        row: { from: '/c', to: 'https://example.com/d,e', status: 308, forwardQueryString: true },
      },
      { line: 5, row: { from: '/f', to: '/g', status: 302, forwardQueryString: false } },
    ]);
  });

  it('takes the columns in any order and case, status and forwardQueryString left out', () => {
    const rows = parseRedirectFile('r.csv', 'To,From\n/new,/old\n');
    expect(rows).toEqual([
      { line: 2, row: { from: '/old', to: '/new', status: 301, forwardQueryString: false } },
    ]);
  });

  it('lists every bad row with its line and what is wrong, and imports nothing', () => {
    const csv = [
      'from,to,status,forwardQueryString',
      '/ok,/fine,301,',
      'nope,/x,301,',
      '/y,/z,200,',
      '/ok,/again,,',
      '/q,/r,301,maybe',
      '/s,/t,301,false,extra',
    ].join('\n');
    expect(() => parseRedirectFile('bad.csv', csv)).toThrow(
      [
        '5 bad rows, nothing imported:',
        '  bad.csv:3: from must be a path starting with "/" (got "nope")',
        '  bad.csv:4: status must be one of 301, 302, 303, 307, 308 (got 200)',
        '  bad.csv:5: from /ok is already redirected on line 2',
        '  bad.csv:6: forwardQueryString must be true or false (got "maybe")',
        '  bad.csv:7: has 5 columns, the header 4',
      ].join('\n'),
    );
  });

  it('refuses a header without from and to, naming the unknown columns', () => {
    expect(() => parseRedirectFile('h.csv', 'source,destination\n/a,/b\n')).toThrow(
      /h\.csv:1: the header row must name the columns from, to .*\(unknown: source, destination\)/,
    );
  });

  it('reads a JSON array, numbering rows by the line each starts on', () => {
    const json = `[
  { "from": "/a", "to": "/b" },
  { "from": "/c",
    "to": "/d", "status": 307, "forwardQueryString": true },
  { "from": "/e", "to": "e" }
]`;
    expect(() => parseRedirectFile('r.json', json)).toThrow(
      'r.json:5: to must be a path ("/…") or an http(s) URL (got "e")',
    );
    const ok = parseRedirectFile('r.json', json.replace('"to": "e"', '"to": "/e"'));
    expect(ok.map((r) => r.line)).toEqual([2, 3, 5]);
    expect(ok[1]?.row).toEqual({ from: '/c', to: '/d', status: 307, forwardQueryString: true });
  });

  it('refuses JSON that is not an array, and an empty file', () => {
    expect(() => parseRedirectFile('r.json', '{"from":"/a"}')).toThrow(/must be a JSON array/);
    expect(() => parseRedirectFile('r.json', '[}')).toThrow(/not valid JSON/);
    expect(() => parseRedirectFile('r.csv', 'from,to\n')).toThrow(/has no redirect rows/);
  });
});
