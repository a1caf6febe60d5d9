import { Component, inject, input } from '@angular/core';
import { RouterLink } from '@angular/router';
import { Cart } from '../cart';
import { formatPrice, type Product } from '../products';

@Component({
  selector: 'app-product',
  imports: [RouterLink],
  template: `
    @if (product(); as product) {
      <article class="card">
        <h1>{{ product.name }}</h1>
        <p>{{ product.description }}</p>
        <p>{{ price(product.priceCents) }} · {{ product.rating }} / 5 ({{ product.reviewCount }} reviews)</p>
        <button type="button" (click)="cart.add()">Add to cart</button>
        <p><a routerLink="/">All products</a></p>
      </article>
    } @else {
      <h1>Not found</h1>
      <p><a routerLink="/">Back to the shop</a></p>
    }
  `,
})
export class ProductPage {
  readonly product = input.required<Product | null>();
  protected readonly cart = inject(Cart);
  protected readonly price = formatPrice;
}
