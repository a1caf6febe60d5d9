/**
 * What the server's and the browser's `reactPage` share, so both render the
 * same tree: the contexts behind `useLoaderData()` and `useRenderContext()`
 * and the element a page renders. Bundle-safe.
 *
 * @module
 */
import {
  type ComponentType,
  createContext,
  createElement,
  type ReactElement,
  useContext,
  useEffect,
} from 'react';
import type { RenderContext } from './router/types.ts';

const MISSING = Symbol('flotilla.noLoaderData');
const LoaderData = createContext<unknown>(MISSING);
const Render = createContext<RenderContext | undefined>(undefined);

/** Renders the page's component; `onHydrated` runs once it is live in the browser. */
function PageRoot(props: { component: ComponentType; onHydrated: (() => void) | undefined }) {
  const { onHydrated } = props;
  useEffect(() => onHydrated?.(), [onHydrated]);
  return createElement(props.component);
}

/**
 * The element a page renders: `component` below the providers of its data
 * and render context (the same on the server and in the browser).
 *
 * @param onHydrated - Called after the browser hydrated it (never on the server).
 */
export function pageElement(
  component: ComponentType,
  data: unknown,
  ctx: RenderContext,
  onHydrated?: () => void,
): ReactElement {
  return createElement(
    Render.Provider,
    { value: ctx },
    createElement(
      LoaderData.Provider,
      { value: data },
      createElement(PageRoot, { component, onHydrated }),
    ),
  );
}

/**
 * The value the page's `load` returned (the not-found data on a 404
 * page). Only inside components rendered by `reactPage`; in the browser,
 * the same value, sent with the page.
 *
 * @throws Error outside a page rendered by `reactPage`.
 */
export function useLoaderData<T>(): T {
  const data = useContext(LoaderData);
  if (data === MISSING) {
    throw new Error('useLoaderData() works only in components rendered by reactPage()');
  }
  return data as T;
}

/**
 * The render context (request, params, env, backends) of the page being
 * rendered. Only inside components rendered by `reactPage`. In the browser
 * it has the URL the server rendered and the params, `env` is `{}` and
 * `backend()` throws: variables and backends stay on the server.
 */
export function useRenderContext(): RenderContext {
  const ctx = useContext(Render);
  if (!ctx) throw new Error('useRenderContext() works only in components rendered by reactPage()');
  return ctx;
}
