/**
 * Pages in the browser build: `reactPage` and `vuePage` there make a page
 * function that cannot render (that happened on the server) but can
 * hydrate the server's markup, found by the client runtime through
 * {@link CLIENT_PAGE}.
 *
 * @module
 */
import { CLIENT_PAGE, type HydrationPayload } from '../hydration.ts';
import { checkComponent, checkOptions, type PageFunction } from '../router/page.ts';
import type { RenderContext, RenderFn } from '../router/types.ts';

/** Hydrates `component` with `data` over the server's markup; resolves once it is live. */
export type HydrateComponent<C> = (
  component: C,
  data: unknown,
  ctx: RenderContext,
  root: HydrationPayload['root'],
) => Promise<void>;

/** What {@link CLIENT_PAGE} holds. */
export interface ClientPage {
  /** Hydrates the page the payload describes. */
  hydrate(payload: HydrationPayload): Promise<void>;
}

/**
 * A page function of the browser build: it checks the component and the
 * options as the server does, and hydrates with `hydrate`.
 */
export function clientPage<C>(adapter: string, hydrate: HydrateComponent<C>): PageFunction<C> {
  return (component, options = {}) => {
    checkComponent(adapter, component);
    checkOptions(adapter, options);
    const render: RenderFn = () => {
      throw new Error(`${adapter}: pages render on the server; the browser only hydrates them`);
    };
    const page: ClientPage = {
      hydrate(payload) {
        const target = payload.page === 'notFound' ? options.notFound : component;
        if (target === undefined) {
          return Promise.reject(new Error(`${adapter}: the page has no notFound component`));
        }
        return hydrate(target, payload.data, browserContext(payload), payload.root);
      },
    };
    return Object.assign(render, { [CLIENT_PAGE]: page });
  };
}

/** The render context in the browser: the server's URL and params; no variables, no backends. */
function browserContext(payload: HydrationPayload): RenderContext {
  return {
    request: new Request(payload.url),
    params: payload.params,
    env: {},
    backend(name) {
      throw new Error(
        `ctx.backend(${JSON.stringify(name)}): backends are reachable only on the server (in load)`,
      );
    },
  };
}
