import { afterNextRender, Component, inject } from '@angular/core';
import { RouterLink, RouterOutlet } from '@angular/router';
import { Cart } from './cart';

/** The page chrome and the cart: state that survives client-side navigation. */
@Component({
  imports: [RouterOutlet, RouterLink],
  selector: 'app-root',
  template: `
    <header>
      <a routerLink="/">Angular Shop</a>
      <a routerLink="/about">About</a>
      <span data-testid="cart">Cart: {{ cart.count() }}</span>
    </header>
    <main>
      <router-outlet />
    </main>
  `,
})
export class App {
  protected readonly cart = inject(Cart);

  constructor() {
    // Runs only in the browser, once Angular has hydrated the page (tests wait for it).
    afterNextRender(() => {
      document.documentElement.dataset['hydrated'] = 'true';
    });
  }
}
