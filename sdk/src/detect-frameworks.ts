/**
 * The frameworks `flotilla.config.json` may name, and what identifies each
 * in a project (its packages and config files), defined once for the
 * config schema, `detectFramework` and `flotilla init`. No Node built-ins.
 *
 * @module
 */
import { BUNDLE_FRAMEWORKS, type BundleFramework } from '@flotilla/manifest';

/** Frameworks Flotilla recognises in a project but cannot build yet. */
export const UNSUPPORTED_FRAMEWORKS = Object.freeze([] as const);

/**
 * Every value of `framework` in `flotilla.config.json`: the ones a bundle
 * can declare ({@link BUNDLE_FRAMEWORKS}), then {@link UNSUPPORTED_FRAMEWORKS}.
 */
export const PROJECT_FRAMEWORKS = Object.freeze([
  ...BUNDLE_FRAMEWORKS,
  ...UNSUPPORTED_FRAMEWORKS,
] as const);

/** A value of `framework` in `flotilla.config.json`. */
export type ProjectFramework = (typeof PROJECT_FRAMEWORKS)[number];

/** What Flotilla knows of a framework. */
export interface FrameworkInfo {
  /** What people call it, e.g. `Next.js`. */
  label: string;
  /** `flotilla build` builds apps of it. */
  supported: boolean;
  /**
   * Its app is a module whose default export is a Router or a fetch
   * handler, so `entry` is required. Meta-frameworks build with their own
   * tooling and have none.
   */
  entry: boolean;
  /** A meta-framework: it wins over the UI library it renders with. */
  meta: boolean;
  /** Packages (dependencies or devDependencies) that identify it. */
  packages: readonly string[];
  /** Config files at the project root that identify it. */
  configFiles?: RegExp;
  /** A package its apps need to render on a server, and how to add it. */
  serverPackage?: { name: string; hint: string };
}

/**
 * The frameworks, in the order detection reports them. `none` has no
 * packages: it is what a project without any of the others is.
 */
export const FRAMEWORKS: Readonly<Record<ProjectFramework, FrameworkInfo>> = Object.freeze({
  next: {
    label: 'Next.js',
    supported: true,
    entry: false,
    meta: true,
    packages: ['next'],
    configFiles: /^next\.config\.(?:js|cjs|mjs|ts|mts)$/,
  },
  nuxt: {
    label: 'Nuxt',
    supported: true,
    entry: false,
    meta: true,
    packages: ['nuxt'],
    configFiles: /^nuxt\.config\.(?:js|mjs|ts|mts)$/,
  },
  angular: {
    label: 'Angular SSR',
    supported: true,
    entry: false,
    meta: true,
    packages: ['@angular/ssr', '@angular/core'],
    configFiles: /^angular\.json$/,
    serverPackage: { name: '@angular/ssr', hint: 'ng add @angular/ssr' },
  },
  sveltekit: {
    label: 'SvelteKit',
    supported: true,
    entry: false,
    meta: true,
    packages: ['@sveltejs/kit'],
    configFiles: /^svelte\.config\.(?:js|mjs|ts)$/,
  },
  'react-router': {
    label: 'React Router (framework mode)',
    supported: true,
    entry: false,
    meta: true,
    packages: ['@react-router/dev'],
    configFiles: /^react-router\.config\.(?:js|mjs|ts|mts)$/,
  },
  react: {
    label: 'React with the Flotilla Router',
    supported: true,
    entry: true,
    meta: false,
    packages: ['react', 'react-dom'],
  },
  vue: {
    label: 'Vue with the Flotilla Router',
    supported: true,
    entry: true,
    meta: false,
    packages: ['vue', '@vue/server-renderer'],
  },
  none: {
    label: 'a fetch handler or Router without a UI framework',
    supported: true,
    entry: true,
    meta: false,
    packages: [],
  },
});

/** The frameworks `flotilla build` builds. */
export function supportedFrameworks(): ProjectFramework[] {
  return PROJECT_FRAMEWORKS.filter((framework) => FRAMEWORKS[framework].supported);
}

/** `react (React with the Flotilla Router), vue (…) and none (…)`. */
export function describeFrameworks(frameworks: readonly ProjectFramework[]): string {
  const named = frameworks.map((framework) => `${framework} (${FRAMEWORKS[framework].label})`);
  return named.length < 2 ? named.join('') : `${named.slice(0, -1).join(', ')} and ${named.at(-1)}`;
}

/**
 * True for a framework whose apps `flotilla build` bundles from their
 * `entry` (a Router or a fetch handler): `react`, `vue`, `none`.
 */
export function isEntryFramework(framework: ProjectFramework): framework is BundleFramework {
  const info = FRAMEWORKS[framework];
  return (
    info.supported && info.entry && (BUNDLE_FRAMEWORKS as readonly string[]).includes(framework)
  );
}
