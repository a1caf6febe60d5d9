/**
 * Errors of the Router and its helpers. They run inside bundles too, and are
 * `FlotillaError`s with a stable `code` (`FLOTILLA_ERR_*`), so `toWireError`
 * keeps the code.
 *
 * @module
 */
import { type ErrorCode, FlotillaError } from '@flotilla/protocol';

/** Base class of the Router's errors. */
export class RouterError extends FlotillaError {
  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'RouterError';
  }
}

/**
 * A route, a helper call or a cache-key builder got a bad argument
 * (`FLOTILLA_ERR_INVALID_OPTION`). The message names the call and the
 * argument, e.g. `cache(): cache().edge.maxAgeSeconds must be a non-negative
 * integer (got -1)`.
 */
export class InvalidRouteError extends RouterError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('FLOTILLA_ERR_INVALID_OPTION', message, options);
    this.name = 'InvalidRouteError';
  }
}

/**
 * A Router cannot describe one of its routes at build time
 * (`FLOTILLA_ERR_BUNDLE`): its handler threw, was not synchronous, or
 * declared different cache options or actions in the two build-time runs.
 * The message starts with the route, e.g. `GET /p/:productId (route 3): cache
 * options must be static: …`.
 */
export class RouterBuildError extends RouterError {
  /** The route as the message names it, e.g. `GET /p/:productId (route 3)`. */
  readonly route: string;
  /** Its id (index in the manifest's routes). */
  readonly routeId: number;

  constructor(route: string, routeId: number, problem: string, options: { cause?: unknown } = {}) {
    super('FLOTILLA_ERR_BUNDLE', `${route}: ${problem}`, options);
    this.name = 'RouterBuildError';
    this.route = route;
    this.routeId = routeId;
  }
}

/**
 * A declared backend answered a `ctx.backend(name).json(path)` call with a
 * status outside 200–299 (`FLOTILLA_ERR_RENDER` when it escapes the render).
 */
export class BackendError extends RouterError {
  /** The backend's name. */
  readonly backend: string;
  /** The path asked for. */
  readonly path: string;
  readonly #status: number;

  constructor(backend: string, path: string, status: number) {
    super('FLOTILLA_ERR_RENDER', `backend ${backend} answered ${status} for ${path}`);
    this.name = 'BackendError';
    this.backend = backend;
    this.path = path;
    this.#status = status;
  }

  /**
   * The status the backend answered. (Unlike other errors' `status`, not
   * what a client sees: that is `errorStatus(code)`, 502, when the error
   * escapes the render.)
   */
  override get status(): number {
    return this.#status;
  }
}

/**
 * Thrown (through {@link notFound}) by a page's `load` to answer with the
 * page's 404 instead of rendering it.
 */
export class NotFoundError extends RouterError {
  /** Data for the not-found page (`useLoaderData()` in it). */
  readonly data: unknown;

  constructor(data?: unknown) {
    super('FLOTILLA_ERR_NOT_FOUND', 'not found');
    this.name = 'NotFoundError';
    this.data = data;
  }
}

/**
 * Makes the error a page's `load` throws to answer 404: the adapter renders
 * the page's `notFound` component (or a plain "Not found" document) with
 * status 404.
 *
 * @param data - Handed to the not-found component as its loader data.
 * @example
 * const productPage = reactPage(Product, {
 *   load: async ({ params, backend }) => {
 *     const res = await backend('api').fetch(`/products/${params.productId}`);
 *     if (res.status === 404) throw notFound({ id: params.productId });
 *     return res.json();
 *   },
 *   notFound: ProductNotFound,
 * });
 */
export function notFound(data?: unknown): NotFoundError {
  return new NotFoundError(data);
}

/** True for what {@link notFound} made (also across copies of the SDK, by `code`). */
export function isNotFound(value: unknown): value is NotFoundError {
  return (
    value instanceof NotFoundError ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { code?: unknown }).code === 'FLOTILLA_ERR_NOT_FOUND' &&
      (value as { name?: unknown }).name === 'NotFoundError')
  );
}
