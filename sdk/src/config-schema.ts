/**
 * The schema of `flotilla.config.json`: one source for what
 * `loadProjectConfig` accepts and for `flotilla.config.schema.json`, the
 * JSON Schema editors complete from (`"$schema"` in a config). No Node
 * built-ins: the rules, not the file system (`entry` and `static` must exist
 * too, which `loadProjectConfig` checks).
 *
 * @module
 */
import { APP_NAME_PROBLEM, ManifestLimitsSchema } from '@flotilla/manifest';
import { MAX_BUNDLE_BYTES, MAX_PRERENDER_PATHS, PrerenderPathSchema } from '@flotilla/protocol';
import { APP_NAME } from '@flotilla/protocol/patterns';
import {
  BackendsSchema,
  got,
  integer,
  requiredString,
  strictObject,
  table,
} from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { PROJECT_FRAMEWORKS } from './detect-frameworks.ts';

/** Name of the project file `loadProjectConfig` reads. */
export const PROJECT_CONFIG_FILE = 'flotilla.config.json';

/** Default cap on `bundle.js`: 10 MiB. */
export const DEFAULT_MAX_BUNDLE_BYTES = MAX_BUNDLE_BYTES;

/** Static directory used when `static` is absent and the directory exists. */
export const DEFAULT_STATIC_DIR = 'public';

/**
 * The fields of `flotilla.config.json`, each a schema (`buildApp` checks its
 * options of the same name with them).
 */
export const CONFIG_FIELDS = {
  $schema: v.optional(
    v.pipe(
      v.string(got('must be the path or URL of a JSON Schema')),
      v.description('The JSON Schema of this file, for editors; the build ignores it.'),
    ),
  ),
  name: v.pipe(
    v.string(got(APP_NAME_PROBLEM)),
    v.regex(APP_NAME, got(APP_NAME_PROBLEM)),
    v.description(
      'App name: 1-50 lower-case letters, digits or "-", not starting or ending with "-" (it becomes a host label).',
    ),
  ),
  entry: v.optional(
    v.pipe(
      requiredString(got('must be a path relative to the project')),
      v.description(
        'The app module, relative to the project directory; its default export is a Router or a fetch handler. Required for react, vue and none apps.',
      ),
    ),
  ),
  framework: v.optional(
    v.pipe(
      v.picklist(PROJECT_FRAMEWORKS, got(`must be one of ${PROJECT_FRAMEWORKS.join(', ')}`)),
      v.description(
        'The framework the app renders with: "react" or "vue" (a Router with React or Vue pages), "none" (a fetch handler or a Router without a UI framework), "react-router" (React Router in framework mode), "sveltekit" (SvelteKit), "angular" (Angular SSR), "nuxt" (Nuxt); "next" is recognised but not built yet. Absent: flotilla build detects it from package.json and config files.',
      ),
    ),
  ),
  backends: v.optional(
    v.pipe(
      BackendsSchema,
      v.description(
        'Named backends the app may fetch (backend://<name>/…): name → http(s) origin (scheme, host and optional port).',
      ),
    ),
  ),
  static: v.optional(
    v.pipe(
      requiredString(got('must be a directory relative to the project')),
      v.description(
        'The static files directory, relative to the project; default "public" when it exists.',
      ),
    ),
  ),
  maxBundleBytes: v.optional(
    v.pipe(
      integer(1, got('must be a positive integer number of bytes')),
      v.description('Largest accepted bundle.js, in bytes.'),
    ),
    DEFAULT_MAX_BUNDLE_BYTES,
  ),
  define: v.optional(
    v.pipe(
      table(
        v.string(),
        v.string(got('must be a string of JS source, e.g. "true" or "\\"text\\""')),
        () => 'must be an object of identifier → JS expression source',
      ),
      v.description('Extra esbuild defines: identifier → JS source, e.g. "true" or "\\"text\\"".'),
    ),
    {},
  ),
  prerenderRequests: v.optional(
    v.pipe(
      v.array(strictObject({ path: PrerenderPathSchema }), got('must be an array of { path }')),
      v.maxLength(MAX_PRERENDER_PATHS, `must list at most ${MAX_PRERENDER_PATHS} requests`),
      v.description(
        'Paths the shields render and store when a deployment is promoted (EdgeJS prerenderRequests), so the first visitor gets a hit: [{ "path": "/" }, …]. Added to those of router.prerender().',
      ),
    ),
  ),
  limits: v.optional(
    v.pipe(
      ManifestLimitsSchema,
      v.description(
        "Sandbox limits the app asks for, each a positive integer (heapMb at least 8). Workers hold the deployment to the smaller of these and the operator's limits.",
      ),
    ),
  ),
};

/**
 * `flotilla.config.json` as written: paths relative to the project
 * directory. Parsing applies the defaults and drops `$schema`.
 *
 * @example
 * {
 *   "$schema": "../../sdk/flotilla.config.schema.json",
 *   "name": "shop",
 *   "entry": "src/app.tsx",
 *   "framework": "react",
 *   "backends": { "api": "https://api.shop.example" },
 *   "static": "public",
 *   "limits": { "cpuMs": 200, "heapMb": 64 }
 * }
 */
export const ProjectConfigSchema = v.pipe(
  strictObject(CONFIG_FIELDS, {
    missing: 'is required',
    unlisted: ['$schema'],
    notObject: 'must hold a JSON object',
  }),
  v.transform(({ $schema: _, limits, ...config }) => ({
    ...config,
    backends: config.backends ?? {},
    // No limits set is the same as none asked for.
    ...(limits && Object.keys(limits).length > 0 ? { limits } : {}),
  })),
);

/** `flotilla.config.json` as read: defaults applied, paths still relative. */
export type ProjectConfigFile = v.InferOutput<typeof ProjectConfigSchema>;
