/**
 * `node:vm` for framework server code that evaluates its own build output
 * (Next.js reads manifests with `fs.readFileSync` and runs them with
 * `vm.runInNewContext`). Everything runs in the isolate's own realm with the
 * isolate's code generation (`eval` / `new Function`, which the isolate
 * allows to any bundle): no new context, nothing of the host's.
 * `runInNewContext` approximates a context: the code sees the context
 * object's properties (`with`), and `globalThis` / `self` / `window` are it.
 *
 * @module
 */

/** Runs `code` with `context` standing in for the global object; its completion value. */
const withContext = new Function(
  'globalThis',
  'self',
  'window',
  '__flotillaContext',
  '__flotillaCode',
  'with (__flotillaContext) { return eval(__flotillaCode); }',
) as (g: object, s: object, w: object, context: object, code: string) => unknown;

function runInNewContext(code: unknown, context: object = {}): unknown {
  return withContext.call(context, context, context, context, context, String(code));
}

/** Global (indirect) evaluation: the code's declarations become the global object's. */
// biome-ignore lint/security/noGlobalEval: vm.runInThisContext is global evaluation; the isolate allows code generation to every bundle, so this grants nothing new
const globalEval = globalThis.eval;

function runInThisContext(code: unknown): unknown {
  return globalEval(String(code));
}

function compileFunction(code: unknown, params: string[] = []): (...args: unknown[]) => unknown {
  return new Function(...params.map(String), String(code)) as (...args: unknown[]) => unknown;
}

/** `vm.Script`: the code, run as the functions above run it. */
class Script {
  readonly #code: string;
  constructor(code: unknown) {
    this.#code = String(code);
  }
  runInThisContext(): unknown {
    return runInThisContext(this.#code);
  }
  runInNewContext(context?: object): unknown {
    return runInNewContext(this.#code, context);
  }
  runInContext(context: object): unknown {
    return runInNewContext(this.#code, context);
  }
}

const createContext = (context: object = {}): object => context;

/** `node:vm`'s functions over the isolate's own code generation. */
export const vm = {
  runInNewContext,
  runInContext: runInNewContext,
  runInThisContext,
  compileFunction,
  createContext,
  isContext: (value: unknown) => typeof value === 'object' && value !== null,
  Script,
};
