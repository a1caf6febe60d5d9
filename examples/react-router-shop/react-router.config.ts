import type { Config } from '@react-router/dev/config';

// Server-side rendering on (React Router's default): the fleet renders every page.
export default {
  ssr: true,
} satisfies Config;
