/**
 * The shield's front door: request limits, trusted proxies, the public
 * host, the upstream header allow-list and device classification.
 *
 * @module
 */
export {
  type ClientInfo,
  FrontDoor,
  type FrontDoorOptions,
  type FrontDoorRedirect,
  originForm,
} from './front-door.ts';
export { type HostParts, type LocationContext, parseHost, rewriteLocation } from './location.ts';
export {
  checkRequest,
  type FrontDoorRejection,
  type FrontDoorRequest,
  parserRejection,
  rejectionResponse,
} from './request-checks.ts';
export { normalizeIp, TRUSTED_PROXY_ALIASES, TrustedProxies } from './trusted-proxies.ts';
export {
  BROWSER_HEADER,
  CACHE_ALLOW_LIST,
  DEVICE_HEADER,
  headerRecord,
  IS_BOT_HEADER,
  isSpoofableHeader,
  SHIELD_OWNED_HEADERS,
  SPLIT_COOKIE_PREFIX,
  SPOOFABLE_HEADERS,
  type UpstreamHeaderOptions,
  upstreamHeaders,
  VENDOR_HEADER,
} from './upstream-headers.ts';
export {
  BROWSER_FAMILIES,
  type BrowserFamily,
  browserFamily,
  classifyDevice,
  DEVICE_CLASSES,
  DEVICE_VENDORS,
  type DeviceClass,
  type DeviceVendor,
  deviceVendor,
  isBotUserAgent,
  MAX_USER_AGENT_CHARS,
  type UserAgentClass,
  UserAgentClassifier,
  type UserAgentClassifierOptions,
} from './user-agent.ts';
