/**
 * How the fleet names an environment's host, shared by the shield (which
 * routes by it) and the CLI (which prints links with it).
 *
 * @module
 */

/** The environment every app has first, served at `<app>.<domain>`. */
const PRODUCTION = 'production';

/**
 * The host of an app's environment: `<app>.<domain>` for `production`,
 * `<env>.<app>.<domain>` for any other (previews are
 * `<deployment-id>.<previewDomain>`).
 */
export function environmentHost(app: string, env: string, domain: string): string {
  return env === PRODUCTION ? `${app}.${domain}` : `${env}.${app}.${domain}`;
}
