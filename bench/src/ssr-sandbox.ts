/**
 * The sandbox side of the ssr-throughput bench: a RenderWorker (the worker
 * process's core: bundle store → piscina thread → isolated-vm isolate) over
 * an in-process transport, driven with `encodeRenderRequest` /
 * `decodeRenderResult` as a scheduler drives it (no NATS, no HTTP: the cost
 * of the sandbox itself).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import {
  decodeRenderResult,
  encodeRenderRequest,
  nextTraceparent,
  regionSubjects,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { DirectoryBundleStore, RenderWorker } from '@flotilla/workers';
import { drive } from './load-loop.ts';
import { type BenchApp, pageUrl } from './plain-app.ts';
import type { Stages } from './ssr-figures.ts';

/** The RenderWorker's region; nothing else shares its in-process transport. */
const REGION = 'bench';
const decoder = new TextDecoder();

/** Options of {@link SandboxSide.start}. */
export interface SandboxSideOptions {
  /** Root of a `DirectoryBundleStore` holding `deploymentId`. */
  bundlesDir: string;
  deploymentId: string;
  app: BenchApp;
  /** piscina threads of the RenderWorker. */
  threads: number;
  /** Renders each thread takes at once (RenderWorker's `tasksPerThread`). */
  tasksPerThread: number;
  /** Renders per thread before {@link SandboxSide.start} resolves (cold isolate, then JIT). */
  warmup: number;
}

/** A RenderWorker rendering the page of one app and deployment. */
export class SandboxSide {
  readonly #worker: RenderWorker;
  readonly #transport: InProcessTransport;
  readonly #subject: string;
  readonly #deploymentId: string;
  readonly #app: BenchApp;

  private constructor(worker: RenderWorker, transport: InProcessTransport, o: SandboxSideOptions) {
    this.#worker = worker;
    this.#transport = transport;
    this.#subject = regionSubjects(REGION).workerRender(worker.workerId);
    this.#deploymentId = o.deploymentId;
    this.#app = o.app;
  }

  /** Starts the RenderWorker and warms every thread. */
  static async start(o: SandboxSideOptions): Promise<SandboxSide> {
    const transport = new InProcessTransport();
    const worker = new RenderWorker({
      transport,
      region: REGION,
      bundles: new DirectoryBundleStore(o.bundlesDir),
      workerId: `bench-${o.app.name}-${o.threads}t`,
      threads: o.threads,
      tasksPerThread: o.tasksPerThread,
    });
    await worker.start();
    const self = new SandboxSide(worker, transport, o);
    try {
      // Warm-up: every thread gets ≥ warmup renders (cold isolate, then JIT).
      await drive({ concurrency: o.threads, total: o.warmup * o.threads }, async () => {
        await self.render();
      });
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  /** One render of the page, as a scheduler asks for it. */
  async render(): Promise<{ html: string; stages: Stages }> {
    const message = encodeRenderRequest({
      deploymentId: this.#deploymentId,
      method: 'GET',
      url: pageUrl(this.#app),
      headers: [['host', `${this.#app.name}.localhost`]],
      body: new Uint8Array(0),
      deadline: Date.now() + 10_000,
      traceparent: nextTraceparent(),
      requestId: randomUUID(),
      attempt: 1,
    });
    const reply = await this.#transport.request(this.#subject, message, { timeoutMs: 10_000 });
    const result = decodeRenderResult(reply);
    if (!result.ok)
      throw new Error(`sandbox render failed: ${result.error.code} ${result.error.message}`);
    if (result.status !== 200) throw new Error(`sandbox render: status ${result.status}`);
    return {
      html: decoder.decode(result.body),
      stages: {
        render: result.timings.render ?? Number.NaN,
        worker: result.timings.worker ?? Number.NaN,
      },
    };
  }

  async stop(): Promise<void> {
    await this.#worker.drain();
    await this.#transport.drain();
  }
}
