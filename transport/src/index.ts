export { InProcessTransport } from './in-process-transport.ts';
export { NatsTransport, type NatsTransportOptions } from './nats-transport.ts';
export { type Subscription, type Transport, WIRE_HEADROOM_BYTES } from './transport.ts';
