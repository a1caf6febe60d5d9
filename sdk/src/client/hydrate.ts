/**
 * The client runtime: what the build's browser entry runs. It reads the
 * page's hydration payload, finds the page the server rendered (the render
 * function of the payload's route, in the app's own Router), and hydrates
 * it with the same data. Browser-only.
 *
 * @module
 */
import {
  CLIENT_PAGE,
  HYDRATED_ATTRIBUTE,
  HYDRATION_DATA_ID,
  HYDRATION_NODE_ATTRIBUTE,
  type HydrationPayload,
  parseHydrationPayload,
  ROUTE_RENDER_FN,
} from '../hydration.ts';
import type { ClientPage } from './page.ts';

/**
 * Hydrates the current page with `app`, the default export of the app's
 * entry module; resolves once the page is live, with `data-hydrated` set on
 * `<html>`. A page without hydration data is left alone; a problem is
 * reported with `console.error` (the page stays as the server rendered it).
 */
export async function hydrateApp(app: unknown): Promise<void> {
  const script = document.getElementById(HYDRATION_DATA_ID);
  if (script === null) return;
  let payload: HydrationPayload;
  try {
    payload = parseHydrationPayload(script.textContent ?? '');
  } catch (error) {
    console.error(`flotilla: cannot hydrate: ${(error as Error).message}`);
    return;
  }
  const page = pageOf(app, payload.route);
  if (typeof page === 'string') {
    console.error(`flotilla: cannot hydrate: ${page}`);
    return;
  }
  // The DOM must be the component's markup alone, as the server rendered it.
  for (const node of document.querySelectorAll(`[${HYDRATION_NODE_ATTRIBUTE}]`)) node.remove();
  try {
    await page.hydrate(payload);
  } catch (error) {
    console.error(`flotilla: hydrating failed: ${(error as Error).message}`);
    return;
  }
  document.documentElement.setAttribute(HYDRATED_ATTRIBUTE, '');
}

/** The page route `id` of `app` renders, or what is wrong. */
function pageOf(app: unknown, id: number): ClientPage | string {
  const renderFnOf = (app as { [ROUTE_RENDER_FN]?: unknown } | null)?.[ROUTE_RENDER_FN];
  if (typeof renderFnOf !== 'function') {
    return "the entry module's default export is not a Router";
  }
  const render = renderFnOf.call(app, id) as { [CLIENT_PAGE]?: ClientPage } | undefined;
  const page = render?.[CLIENT_PAGE];
  return page ?? `route ${id} does not render a reactPage() or vuePage() in the browser build`;
}
