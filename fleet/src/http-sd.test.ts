import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { httpSdGroups } from './http-sd.ts';

const asked = (host: string) => ({ headers: { host } }) as IncomingMessage;

describe('httpSdGroups', () => {
  it('lists one group per worker, with its admin host:port and labels', () => {
    const groups = httpSdGroups(
      [
        { adminUrl: 'http://127.0.0.1:41001', workerId: 'w-1', label: '#1 pid 10', state: 'ready' },
        { adminUrl: 'http://127.0.0.1:41002', workerId: undefined, label: '#2', state: 'draining' },
      ],
      { region: 'eu', schedulerId: 's-9' },
    );
    expect(groups).toEqual([
      {
        targets: ['127.0.0.1:41001'],
        labels: {
          region: 'eu',
          flotilla_role: 'worker',
          flotilla_scheduler: 's-9',
          __meta_flotilla_worker: 'w-1',
          __meta_flotilla_state: 'ready',
        },
      },
      {
        targets: ['127.0.0.1:41002'],
        labels: {
          region: 'eu',
          flotilla_role: 'worker',
          flotilla_scheduler: 's-9',
          __meta_flotilla_state: 'draining',
        },
      },
    ]);
  });

  it('names a worker listening on every interface by the host Prometheus asked for', () => {
    const targets = [
      { adminUrl: 'http://0.0.0.0:41001', workerId: 'w-1', label: '#1', state: 'ready' as const },
      { adminUrl: 'http://[::]:41002', workerId: 'w-2', label: '#2', state: 'ready' as const },
    ];
    const context = { region: 'eu', schedulerId: 's-9' };
    expect(
      httpSdGroups(targets, { ...context, request: asked('node-7.internal:9464') }).map(
        (g) => g.targets[0],
      ),
    ).toEqual(['node-7.internal:41001', 'node-7.internal:41002']);
    expect(
      httpSdGroups(targets, { ...context, request: asked('[fd00::7]:9464') }).map(
        (g) => g.targets[0],
      ),
    ).toEqual(['[fd00::7]:41001', '[fd00::7]:41002']);
  });

  it('answers an empty list when there is nothing to scrape', () => {
    expect(httpSdGroups([], { region: 'eu', schedulerId: 's-9' })).toEqual([]);
  });
});
