/**
 * Option tables of `node:util` parseArgs, written as lists of names:
 * `{ ...stringOptions('nats', 'region'), ...booleanOptions('json') }`.
 *
 * @module
 */

function table<N extends string, S extends object>(names: readonly N[], spec: S): Record<N, S> {
  return Object.fromEntries(names.map((name) => [name, { ...spec }])) as Record<N, S>;
}

/** Options that take a value: `--name <value>`. */
export function stringOptions<const N extends string>(
  ...names: N[]
): Record<N, { type: 'string' }> {
  return table(names, { type: 'string' } as const);
}

/** Options that take a value and may be given several times. */
export function repeatedOptions<const N extends string>(
  ...names: N[]
): Record<N, { type: 'string'; multiple: true }> {
  return table(names, { type: 'string', multiple: true } as const);
}

/** Switches: `--name`. */
export function booleanOptions<const N extends string>(
  ...names: N[]
): Record<N, { type: 'boolean' }> {
  return table(names, { type: 'boolean' } as const);
}
