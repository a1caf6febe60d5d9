import { Injectable, signal } from '@angular/core';

/** The cart behind the header's counter: it lives as long as the page (client-side navigations included). */
@Injectable({ providedIn: 'root' })
export class Cart {
  readonly count = signal(0);

  add(): void {
    this.count.update((n) => n + 1);
  }
}
