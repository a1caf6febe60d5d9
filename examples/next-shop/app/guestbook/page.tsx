import { GuestbookForm } from './form';

export const runtime = 'edge';

export default function Guestbook() {
  return (
    <>
      <h1>Guestbook</h1>
      <GuestbookForm />
    </>
  );
}
