import { describe, expect, it } from 'vitest';
import { COMMANDS_USAGE, CONTROL_COMMANDS, EXIT, runCommand } from './commands.ts';

/** Runs a command against a NATS URL nobody listens on; bad usage must be caught before. */
async function run(command: 'purge' | 'split', args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCommand(command, [...args, '--connect-timeout-ms', '500'], {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { FLOTILLA_NATS: 'nats://127.0.0.1:1' },
  });
  return { code, stdout, stderr };
}

describe('flotilla purge and split: the command line', () => {
  it('are listed with their usage', () => {
    expect(CONTROL_COMMANDS).toContain('purge');
    expect(CONTROL_COMMANDS).toContain('split');
    expect(COMMANDS_USAGE).toMatch(/flotilla purge \(--url <url> \| --path <pattern>/);
    expect(COMMANDS_USAGE).toMatch(/flotilla split set --env <name>/);
    expect(COMMANDS_USAGE).toMatch(/flotilla split clear --env <name>/);
  });

  it.each([
    [[], /--url \| --path \| --surrogate-key \| --all" is required: say what to purge/],
    [['--url', 'shop.localhost/', '--path', '/p'], /takes exactly one of them, got 2/],
    [['--url', '/p/1'], /option "--url" .*is not a URL with a host/],
    [['--url', 'shop.localhost/', '--app', 'shop'], /option "--app" does not apply to --url/],
    [['--url', 'shop.localhost/', '--env', 'production'], /option "--env" does not apply to --url/],
    [['--path', 'p/:id'], /option "--path" must be a path pattern starting with \//],
    [['--path', '/p', '--app', 'Shop'], /option "--app" "Shop" must be lower-case/],
    [['--surrogate-key', 'a b'], /option "--surrogate-key" must be one surrogate key/],
    [['--surrogate-key', 'k', '--env', 'production'], /option "--env" does not apply/],
    [['--all', '--app', 'shop'], /option "--env" is required/],
    [['--all', '--env', 'production', '--app', 'shop', '--listen-ms', '0'], /--listen-ms/],
    [['--path', '/p', '--timeout-ms', 'soon'], /option "--timeout-ms" must be a positive whole/],
    [['--path', '/p', 'extra'], /option "purge" takes no arguments/],
    [['--bogus'], /bogus/],
  ])('purge %j is bad usage (exit 2), named before connecting', async (args, message) => {
    const res = await run('purge', args);
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(EXIT.usage);
  });

  it.each([
    [[], /usage: flotilla split set/],
    [['set', 'shop-aaaaaaaaaaaa=50'], /option "--env" is required/],
    [['set', '--env', 'production', '--app', 'shop'], /or --rule is required/],
    [
      ['set', '--env', 'production', '--app', 'shop', 'shop-aaaaaaaaaaaa=half'],
      /"shop-aaaaaaaaaaaa=half" must be <deployment-id>\[:<destination>\]=<whole percent>/,
    ],
    [
      [
        'set',
        '--env',
        'production',
        '--app',
        'shop',
        '--rule',
        'ip:1.2.3.4 -> shop-aaaaaaaaaaaa=100',
      ],
      /criterion "ip:1.2.3.4" must be cookie:<name>\[=<value>\]/,
    ],
    [['clear', '--env', 'production', '--app', 'shop', 'x=1'], /takes no deployments/],
    [['clear', '--env', 'production', '--app', 'shop', '--rule', 'cookie:a -> x=1'], /no --rule/],
  ])('split %j is bad usage (exit 2), named before connecting', async (args, message) => {
    const res = await run('split', args);
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(EXIT.usage);
  });

  it('reports an unreachable fleet (exit 3) once the command line is right', async () => {
    const purge = await run('purge', ['--surrogate-key', 'k']);
    expect(purge.code).toBe(EXIT.unreachable);
    expect(purge.stderr).toMatch(/cannot reach the fleet at nats:\/\/127\.0\.0\.1:1/);
    const split = await run('split', [
      'set',
      '--env',
      'production',
      '--app',
      'shop',
      'shop-aaaaaaaaaaaa=90',
      'shop-bbbbbbbbbbbb=10%',
      '--json',
    ]);
    expect(split.code).toBe(EXIT.unreachable);
    expect(JSON.parse(split.stderr)).toMatchObject({
      error: { code: 'FLOTILLA_ERR_TRANSPORT_CLOSED' },
    });
  });
});
