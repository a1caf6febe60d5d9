/**
 * Writes `sdk/flotilla.config.schema.json`, the JSON Schema of
 * `flotilla.config.json`, from {@link ProjectConfigSchema}:
 * `node sdk/src/config-json-schema.ts` (or `pnpm --filter @flotilla/sdk
 * config-schema`), then `./run format`. A test fails when the committed file
 * is stale.
 *
 * Rules the JSON Schema cannot say (a backend origin has no path, `entry`
 * exists) are left to `flotilla build`; the schema gives editors the fields,
 * their types, patterns and descriptions.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { toJsonSchema } from '@valibot/to-json-schema';
import { ProjectConfigSchema } from './config-schema.ts';

/** Where the JSON Schema is committed. */
export const CONFIG_JSON_SCHEMA_PATH = fileURLToPath(
  new URL('../flotilla.config.schema.json', import.meta.url),
);

/** The JSON Schema of `flotilla.config.json`, as the committed file holds it. */
export function configJsonSchemaText(): string {
  const schema = toJsonSchema(ProjectConfigSchema, {
    // Checks, transforms and the plain-object guard have no JSON Schema form:
    // the schema keeps what it can express.
    errorMode: 'ignore',
  });
  const { $schema, ...rest } = schema;
  return `${JSON.stringify(
    {
      $schema,
      title: 'flotilla.config.json',
      description: 'The project file of a Flotilla app, read by `flotilla build`.',
      ...rest,
    },
    null,
    2,
  )}\n`;
}

if (import.meta.main) {
  await writeFile(CONFIG_JSON_SCHEMA_PATH, configJsonSchemaText());
  console.log(`wrote ${CONFIG_JSON_SCHEMA_PATH}`);
}
