'use server';

/** A server action: thanks the name it was sent (no storage: the isolate keeps nothing). */
export async function sign(name: string): Promise<string> {
  const trimmed = name.trim();
  return trimmed === '' ? 'Please give a name.' : `Thanks for signing, ${trimmed}!`;
}
