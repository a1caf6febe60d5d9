import {
  decodeProbeRequest,
  encodeProbeResult,
  PROBE_SUBJECT,
  type ProbeResult,
  probeQueue,
} from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import { RegionResponder } from './region-responder.ts';

/** Options of {@link RegionProbe}. */
export interface RegionProbeOptions {
  transport: Transport;
  /** Region this scheduler serves (validated like every region name). */
  region: string;
  /** HTTP client used to time round trips. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Answers `flotilla region set --near <url>`: times round trips from this
 * region to an API origin. One scheduler per region answers (queue group),
 * so the CLI gets one measurement per region.
 */
export class RegionProbe extends RegionResponder {
  readonly #fetch: typeof fetch;

  constructor(options: RegionProbeOptions) {
    super(options?.transport, options?.region, PROBE_SUBJECT, probeQueue);
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Times `samples` round trips (HEAD; any HTTP answer counts) and reports the median. */
  async measure(body: Uint8Array): Promise<ProbeResult> {
    let request: ReturnType<typeof decodeProbeRequest>;
    try {
      request = decodeProbeRequest(body);
    } catch (err) {
      return { region: this.region, rttMs: null, samplesMs: [], error: (err as Error).message };
    }
    const samplesMs: number[] = [];
    for (let i = 0; i < request.samples; i++) {
      const started = performance.now();
      try {
        const res = await this.#fetch(request.url, {
          method: 'HEAD',
          redirect: 'manual',
          signal: AbortSignal.timeout(request.timeoutMs),
        });
        await res.body?.cancel();
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        return {
          region: this.region,
          rttMs: null,
          samplesMs,
          error: `${request.url} unreachable: ${cause ?? (err as Error).message}`,
        };
      }
      samplesMs.push(Math.round((performance.now() - started) * 100) / 100);
    }
    const sorted = [...samplesMs].sort((a, b) => a - b);
    return {
      region: this.region,
      rttMs: sorted[Math.floor(sorted.length / 2)] ?? null,
      samplesMs,
    };
  }

  protected override async answer(body: Uint8Array): Promise<Uint8Array> {
    return encodeProbeResult(await this.measure(body));
  }
}
