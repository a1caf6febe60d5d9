export { CHUNK_SUBJECT_PREFIX } from './chunked-reply.ts';
export { InProcessTransport } from './in-process-transport.ts';
export {
  connectError,
  type NatsSecurity,
  type NatsSecurityOptions,
  natsSecurityOptions,
  readUserSeed,
  userInboxPrefix,
} from './nats-credentials.ts';
export { NatsTransport, type NatsTransportOptions } from './nats-transport.ts';
export { type Subscription, type Transport, WIRE_HEADROOM_BYTES } from './transport.ts';
