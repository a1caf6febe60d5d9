/** A route handler, rendered in the isolate. */
export const runtime = 'edge';

export function GET(request: Request) {
  return Response.json({ ok: true, path: new URL(request.url).pathname });
}
