'use client';

import { type FormEvent, useState, useTransition } from 'react';
import { sign } from './actions';

/**
 * Calls the server action with the name as a string. (A `<form action>`
 * posts multipart form data, which needs `FormData` and `Blob` in the
 * isolate: not there yet.)
 */
export function GuestbookForm() {
  const [message, setMessage] = useState('');
  const [pending, startTransition] = useTransition();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const name = String(new FormData(event.currentTarget).get('name') ?? '');
    startTransition(async () => setMessage(await sign(name)));
  };
  return (
    <form onSubmit={submit}>
      <input name="name" aria-label="Name" />
      <button type="submit" disabled={pending}>
        Sign
      </button>
      <output data-testid="guestbook-message">{message}</output>
    </form>
  );
}
