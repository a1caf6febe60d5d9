import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CONFIG_JSON_SCHEMA_PATH, configJsonSchemaText } from './config-json-schema.ts';

describe('flotilla.config.schema.json', () => {
  it('is the JSON Schema of the config schema (regenerate: node sdk/src/config-json-schema.ts)', async () => {
    // Compared as JSON: the committed file is formatted by biome (`./run format`).
    expect(JSON.parse(await readFile(CONFIG_JSON_SCHEMA_PATH, 'utf8'))).toEqual(
      JSON.parse(configJsonSchemaText()),
    );
  });

  it('lists every field, requires only name, and refuses others', () => {
    const schema = JSON.parse(configJsonSchemaText());
    expect(Object.keys(schema.properties)).toEqual([
      '$schema',
      'name',
      'entry',
      'framework',
      'backends',
      'static',
      'maxBundleBytes',
      'define',
      'prerenderRequests',
      'limits',
    ]);
    expect(schema.required).toEqual(['name']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.framework.enum).toEqual([
      'react',
      'vue',
      'none',
      'react-router',
      'sveltekit',
      'angular',
      'nuxt',
      'next',
    ]);
    expect(schema.properties.backends.propertyNames.pattern).toBe('^[a-z0-9][a-z0-9_-]{0,62}$');
    expect(schema.properties.limits.properties.heapMb.minimum).toBe(8);
    expect(schema.properties.limits.additionalProperties).toBe(false);
  });
});
