/**
 * A role's NATS connection: its credential and TLS CA, reconnecting forever
 * once connected.
 *
 * @module
 */
import { connectError, type NatsSecurity, natsSecurityOptions } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Connects to NATS, reconnecting forever once connected. */
export async function connectNats(
  servers: string,
  name: string,
  timeoutMs = 5000,
  security: NatsSecurity = {},
): Promise<NatsConnection> {
  // Replies under the credential's own inbox: the only ones its permissions let it read.
  const auth = await natsSecurityOptions(security, true);
  try {
    return await connect({
      ...auth,
      servers: servers.split(',').map((s) => s.trim()),
      name,
      timeout: timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
    });
  } catch (err) {
    throw connectError(err, servers, security);
  }
}

/** `flotilla start` arguments naming `security`'s files. */
export function securityArgs(security: NatsSecurity | undefined): string[] {
  const { credsFile, tlsCaFile } = security ?? {};
  return [
    ...(credsFile ? ['--creds', credsFile] : []),
    ...(tlsCaFile ? ['--tls-ca', tlsCaFile] : []),
  ];
}
