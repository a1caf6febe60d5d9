/**
 * Node built-ins for framework server code inside the isolate: bundled into
 * an app's `bundle.js` by the framework connectors that need it (Next.js),
 * never into the runtime's prelude. See README.md.
 *
 * @module
 */
export { StringFormData } from './form-data.ts';
export { FS_WRITE_REFUSAL } from './fs.ts';
export { IncomingMessage, NodeResponse, toNodeRequest } from './http.ts';
export { installNodeCompat, type NodeCompatOptions, nodeRequire } from './install.ts';
export type { ModuleFunction, ModuleMap } from './module-map.ts';
export { bareName, NODE_COMPAT_MODULES, REFUSED_MODULES, refusal } from './modules.ts';
export { MODULE_PARAMS, PROVIDED_MODULES } from './names.ts';
export { createNodeRuntime, type NodeRuntime, type NodeRuntimeOptions } from './node-runtime.ts';
