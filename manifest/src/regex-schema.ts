/**
 * A regular expression carried as data in the manifest, and the check that
 * refuses what the matcher cannot carry.
 *
 * @module
 */

import { got, strictObject } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { regexProblem } from './regex.ts';

/** The fields of a carried regular expression (`RegExp.source` and flags). */
export const regexFields = {
  regex: v.string(got('must be a string (RegExp.source)')),
  flags: v.optional(v.string(got('must be a string of flags'))),
};

/** Refuses a pattern the matcher cannot carry (see `regexProblem`), `prefix` first. */
export const carriedRegex = <T extends { regex: string; flags?: string | undefined }>(
  prefix: (value: T) => string = () => '',
) =>
  v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const { regex, flags } = dataset.value;
    const problem = regexProblem(regex, flags);
    if (problem !== undefined) {
      addIssue({ message: `${prefix(dataset.value)}/${regex}/${flags ?? ''} ${problem}` });
    }
  });

/** A regular expression carried as data: `{ regex, flags? }`. */
export const RegexSpecSchema = v.pipe(
  strictObject(regexFields),
  carriedRegex<{ regex: string; flags?: string | undefined }>(),
);
