/**
 * The catalogue the products API serves: 120 products generated
 * deterministically (no randomness, no clock), so every run, every render
 * and every test sees the same data. Plain data and functions, no Node
 * imports: tests of the shops import it to know what the API answers.
 *
 * @module
 */

/** One product of the catalogue. */
export interface Product {
  /** 1..120. */
  id: number;
  name: string;
  /** Price in cents. */
  priceCents: number;
  description: string;
  /** 1.0–5.0, one decimal. */
  rating: number;
  reviewCount: number;
  tags: string[];
  category: string;
}

/** Number of products in the catalogue. */
export const PRODUCT_COUNT = 120;

const ADJECTIVES = [
  'Sturdy',
  'Elegant',
  'Compact',
  'Rustic',
  'Sleek',
  'Vintage',
  'Lightweight',
  'Deluxe',
  'Handmade',
  'Classic',
  'Modern',
  'Cozy',
  'Rugged',
  'Minimal',
  'Bright',
  'Quiet',
];
const MATERIALS = [
  'Oak',
  'Steel',
  'Linen',
  'Ceramic',
  'Bamboo',
  'Copper',
  'Wool',
  'Glass',
  'Leather',
  'Cotton',
  'Walnut',
];
const NOUNS = [
  'Lamp',
  'Chair',
  'Kettle',
  'Backpack',
  'Notebook',
  'Mug',
  'Blanket',
  'Clock',
  'Planter',
  'Speaker',
  'Desk',
  'Jacket',
  'Bottle',
];
const CATEGORIES = ['Home', 'Kitchen', 'Office', 'Outdoor', 'Apparel', 'Electronics', 'Garden'];
const TAGS = [
  'new',
  'bestseller',
  'eco',
  'gift',
  'limited',
  'sale',
  'handmade',
  'local',
  'premium',
  'classic',
  'compact',
  'durable',
];

/** A small deterministic generator (mulberry32) so the data is stable across runs. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(list: readonly T[], r: number): T {
  const item = list[Math.floor(r * list.length) % list.length];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function makeProduct(id: number): Product {
  const rand = mulberry32(id * 7919);
  const adjective = pick(ADJECTIVES, rand());
  const material = pick(MATERIALS, rand());
  const noun = pick(NOUNS, rand());
  const category = pick(CATEGORIES, rand());
  const tagCount = 1 + Math.floor(rand() * 3);
  const tags: string[] = [];
  for (let i = 0; i < tagCount; i++) {
    const tag = pick(TAGS, rand());
    if (!tags.includes(tag)) tags.push(tag);
  }
  return {
    id,
    name: `${adjective} ${material} ${noun} No. ${id}`,
    priceCents: 499 + Math.floor(rand() * 400) * 25,
    description:
      `A ${adjective.toLowerCase()} ${noun.toLowerCase()} made of ${material.toLowerCase()}, ` +
      `from our ${category.toLowerCase()} range. Built to last, easy to care for, ` +
      `and shipped in recycled packaging.`,
    rating: Math.round((1 + rand() * 4) * 10) / 10,
    reviewCount: Math.floor(rand() * 500),
    tags,
    category,
  };
}

/** All products, ids 1..{@link PRODUCT_COUNT}, in id order. */
export const PRODUCTS: readonly Product[] = Array.from({ length: PRODUCT_COUNT }, (_, i) =>
  makeProduct(i + 1),
);

/**
 * The product with this id, or `undefined`.
 *
 * @example
 * findProduct(7)?.name; // 'Modern Ceramic Jacket No. 7'
 */
export function findProduct(id: number): Product | undefined {
  return Number.isInteger(id) && id >= 1 && id <= PRODUCTS.length ? PRODUCTS[id - 1] : undefined;
}
