/**
 * An ISR page: Next prerenders it at build time with `revalidate = 2`; the
 * fleet's shield caches it for 2 s, then serves it stale while it revalidates
 * (Flotilla serves the build-time prerender again: it does not regenerate).
 */
export const revalidate = 2;

export default function Deals() {
  return (
    <>
      <h1>Deals</h1>
      <p>Today&apos;s deals, prerendered at build time.</p>
    </>
  );
}
