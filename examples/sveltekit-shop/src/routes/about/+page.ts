// Rendered once at build time: the fleet's shield serves it as a file.
export const prerender = true;
