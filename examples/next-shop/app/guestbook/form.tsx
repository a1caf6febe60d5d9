'use client';

import { type FormEvent, useEffect, useState, useTransition } from 'react';
import { sign } from './actions';

/**
 * Calls the server action with the name as a string. (A `<form action>`
 * posts multipart form data, which needs `FormData` and `Blob` in the
 * isolate: not there yet.)
 */
export function GuestbookForm() {
  const [message, setMessage] = useState('');
  const [pending, startTransition] = useTransition();
  // Set once React has hydrated the form (tests wait for it before submitting).
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get('name') ?? '');
    startTransition(async () => setMessage(await sign(name)));
  };
  return (
    <form onSubmit={submit} data-hydrated={hydrated ? 'true' : undefined}>
      <input name="name" aria-label="Name" />
      <button type="submit" disabled={pending}>
        Sign
      </button>
      <output data-testid="guestbook-message">{message}</output>
    </form>
  );
}
