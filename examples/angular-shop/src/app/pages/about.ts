import { Component } from '@angular/core';
import { RouterLink } from '@angular/router';

/** Prerendered at build time (see app.routes.server.ts): the fleet serves it as a file. */
@Component({
  selector: 'app-about',
  imports: [RouterLink],
  template: `
    <h1>About this shop</h1>
    <p>An Angular app rendered on the Flotilla fleet, unchanged.</p>
    <p><a routerLink="/">All products</a></p>
  `,
})
export class About {}
