import Image from 'next/image';
import logo from '../logo.svg';

/** A static page: Next prerenders it at build time and the fleet serves the prerender. */
export default function About() {
  return (
    <>
      <h1>About</h1>
      {/* A static image: an SVG next/image serves as it is, from /_next/static/media. */}
      <Image src={logo} alt="Next Shop logo" width={64} height={64} priority />
      <p>This shop is a Next.js App Router app served by the Flotilla fleet.</p>
    </>
  );
}
