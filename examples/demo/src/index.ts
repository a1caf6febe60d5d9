export { type DemoOptions, demoSeed } from './demo.ts';
export { publishExamples } from './examples.ts';
