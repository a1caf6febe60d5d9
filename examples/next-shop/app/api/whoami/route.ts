import { cookies } from 'next/headers';

/** A route handler with Next's default (Node.js) runtime, run at request time. */
export async function GET(request: Request) {
  const visitor = (await cookies()).get('visitor')?.value ?? 'guest';
  const url = new URL(request.url);
  return Response.json({ visitor, path: url.pathname, q: url.searchParams.get('q') });
}

export async function POST(request: Request) {
  const body = (await request.json()) as { name?: string };
  return Response.json({ hello: body.name ?? 'nobody' }, { status: 201 });
}
