export {
  DEMO_USAGE,
  type DemoArgs,
  type DemoOptions,
  demoSeed,
  parseDemoArgs,
  runDemo,
} from './demo.ts';
export {
  EXAMPLE_APPS,
  type ExampleServices,
  publishExamples,
  startExampleServices,
} from './examples.ts';
