/**
 * WebIDL's DOMException: the error type web APIs throw (atob's
 * InvalidCharacterError, structuredClone's DataCloneError, getRandomValues'
 * QuotaExceededError, streams' AbortError). An Error subclass with `name`,
 * `message` and the legacy `code` as prototype getters, as in Node.
 */

/** Legacy codes: the name of each, by code (0 for names without one). */
const LEGACY = [
  ['INDEX_SIZE_ERR', 'IndexSizeError'],
  ['DOMSTRING_SIZE_ERR', ''],
  ['HIERARCHY_REQUEST_ERR', 'HierarchyRequestError'],
  ['WRONG_DOCUMENT_ERR', 'WrongDocumentError'],
  ['INVALID_CHARACTER_ERR', 'InvalidCharacterError'],
  ['NO_DATA_ALLOWED_ERR', ''],
  ['NO_MODIFICATION_ALLOWED_ERR', 'NoModificationAllowedError'],
  ['NOT_FOUND_ERR', 'NotFoundError'],
  ['NOT_SUPPORTED_ERR', 'NotSupportedError'],
  ['INUSE_ATTRIBUTE_ERR', 'InUseAttributeError'],
  ['INVALID_STATE_ERR', 'InvalidStateError'],
  ['SYNTAX_ERR', 'SyntaxError'],
  ['INVALID_MODIFICATION_ERR', 'InvalidModificationError'],
  ['NAMESPACE_ERR', 'NamespaceError'],
  ['INVALID_ACCESS_ERR', 'InvalidAccessError'],
  ['VALIDATION_ERR', ''],
  ['TYPE_MISMATCH_ERR', 'TypeMismatchError'],
  ['SECURITY_ERR', 'SecurityError'],
  ['NETWORK_ERR', 'NetworkError'],
  ['ABORT_ERR', 'AbortError'],
  ['URL_MISMATCH_ERR', 'URLMismatchError'],
  ['QUOTA_EXCEEDED_ERR', 'QuotaExceededError'],
  ['TIMEOUT_ERR', 'TimeoutError'],
  ['INVALID_NODE_TYPE_ERR', 'InvalidNodeTypeError'],
  ['DATA_CLONE_ERR', 'DataCloneError'],
] as const;

const CODE_OF = new Map<string, number>();
for (const [i, [, name]] of LEGACY.entries()) if (name) CODE_OF.set(name, i + 1);

export class DOMException extends Error {
  readonly #name: string;
  readonly #message: string;

  // Rest parameters: `DOMException.length` is 0, as in WebIDL.
  constructor(...args: unknown[]) {
    const [message, options] = args;
    let name = 'Error';
    let cause: { cause: unknown } | undefined;
    if (options !== null && typeof options === 'object') {
      const o = options as { name?: unknown; cause?: unknown };
      if ('cause' in o) cause = { cause: o.cause };
      if (o.name !== undefined) name = String(o.name);
    } else if (options !== undefined) {
      name = String(options);
    }
    super(undefined, cause);
    this.#name = name;
    this.#message = message === undefined ? '' : String(message);
  }

  override get name(): string {
    return this.#name;
  }

  override get message(): string {
    return this.#message;
  }

  get code(): number {
    return CODE_OF.get(this.#name) ?? 0;
  }

  get [Symbol.toStringTag](): string {
    return 'DOMException';
  }
}

for (const [i, [constant]] of LEGACY.entries()) {
  const desc = { value: i + 1, enumerable: true, writable: false, configurable: false };
  Object.defineProperty(DOMException, constant, desc);
  Object.defineProperty(DOMException.prototype, constant, desc);
}
for (const key of ['name', 'message', 'code'] as const) {
  const desc = Object.getOwnPropertyDescriptor(DOMException.prototype, key);
  if (desc) Object.defineProperty(DOMException.prototype, key, { ...desc, enumerable: true });
}

/** `new DOMException(message, name)`: shorthand for the guest's own throws. */
export const domError = (name: string, message: string): DOMException =>
  new DOMException(message, name);
