/** A static page: Next prerenders it at build time and the fleet serves the prerender. */
export default function About() {
  return (
    <>
      <h1>About</h1>
      <p>This shop is a Next.js App Router app served by the Flotilla fleet.</p>
    </>
  );
}
