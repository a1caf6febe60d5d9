/**
 * A regular expression carried as data in the manifest (`{ regex, flags? }`:
 * route criteria values, cache-key partitions, header rules, catch
 * patterns), and the one check that refuses what the matcher cannot carry.
 *
 * @module
 */

import { got, strictObject } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { REGEX_FLAGS, type RegexSpec, regexProblem } from './regex.ts';

/** The fields of a carried regular expression (`RegExp.source` and flags). */
export const regexFields = {
  regex: v.string(got('must be a string (RegExp.source)')),
  flags: v.optional(v.string(got('must be a string of flags'))),
};

/**
 * Refuses a pattern the matcher cannot carry with the flags `allowed` (see
 * `regexProblem`), `prefix` first. A value without a `regex` (another
 * variant of the same union) is left alone.
 */
export const carriedRegex = <T extends object>(
  allowed: string,
  prefix: (value: T) => string = () => '',
) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const { regex, flags } = dataset.value as Partial<RegexSpec>;
    if (typeof regex !== 'string') return;
    const problem = regexProblem(regex, flags, allowed);
    if (problem !== undefined) {
      addIssue({ message: `${prefix(dataset.value)}/${regex}/${flags ?? ''} ${problem}` });
    }
  });

/** A regular expression carried as data, `{ regex, flags? }`, with the flags `allowed`. */
export const regexSchema = (allowed: string) =>
  v.pipe(strictObject(regexFields), carriedRegex<RegexSpec>(allowed));

/** A regular expression of route criteria or a catch: `{ regex, flags? }`, flags of `REGEX_FLAGS`. */
export const RegexSpecSchema = regexSchema(REGEX_FLAGS);
