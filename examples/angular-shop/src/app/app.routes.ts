import type { Routes } from '@angular/router';
import { About } from './pages/about';
import { Home } from './pages/home';
import { NotFound } from './pages/not-found';
import { ProductPage } from './pages/product';
import { productResolver, productsResolver } from './products';

export const routes: Routes = [
  { path: '', component: Home, resolve: { products: productsResolver }, title: 'Angular Shop' },
  {
    path: 'p/:id',
    component: ProductPage,
    resolve: { product: productResolver },
    title: 'Product · Angular Shop',
  },
  { path: 'about', component: About, title: 'About · Angular Shop' },
  { path: '**', component: NotFound, title: 'Not found' },
];
