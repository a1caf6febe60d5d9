import { Component, inject, input } from '@angular/core';
import { RouterLink } from '@angular/router';
import { Cart } from '../cart';
import { formatPrice, type Product } from '../products';

@Component({
  selector: 'app-home',
  imports: [RouterLink],
  template: `
    <h1>Products</h1>
    <ul class="grid">
      @for (p of products(); track p.id) {
        <li class="card">
          <h2><a [routerLink]="['/p', p.id]">{{ p.name }}</a></h2>
          <p>{{ price(p.priceCents) }}</p>
          <button type="button" (click)="cart.add()">Add to cart</button>
        </li>
      }
    </ul>
  `,
})
export class Home {
  readonly products = input.required<Product[]>();
  protected readonly cart = inject(Cart);
  protected readonly price = formatPrice;
}
