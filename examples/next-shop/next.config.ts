import type { NextConfig } from 'next';

/** Next's defaults: `flotilla build` needs nothing here. */
const nextConfig: NextConfig = {};

export default nextConfig;
