/**
 * The control plane's own host-name rule: the preview domain must be a
 * lower-case DNS name. (Names and environment patches are checked by
 * `environment-patch.ts`.)
 */

/** A lower-case DNS host name (the preview domain). */
export const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
