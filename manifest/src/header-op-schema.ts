/**
 * The header changes a route applies (`headerOps` of a manifest route).
 *
 * @module
 */

import { HTTP_TOKEN } from '@flotilla/protocol/patterns';
import { got, plainObject, strictFields } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { HEADER_REGEX_FLAGS } from './regex.ts';
import { carriedRegex, regexFields } from './regex-schema.ts';
import {
  bool,
  headerName,
  headerValue,
  list,
  method,
  nonNegativeInt,
  oneOf,
  text,
} from './schema-fields.ts';

/**
 * Header rules of the handler helpers: `updateResponseHeader`,
 * `updateUpstreamResponseHeader`, `updateRequestHeader` (a regex replace on
 * a header's value, flags of `HEADER_REGEX_FLAGS`),
 * `setUpstreamResponseHeader`, `addResponseCookie` and `allowCors`. Upstream
 * rules change the answer of the route's action (render or backend) before
 * the response rules.
 */
const HANDLER_HEADER_OPS = [
  strictFields({
    op: v.literal('updateResponse'),
    name: headerName(),
    ...regexFields,
    replacement: headerValue(),
  }),
  strictFields({
    op: v.literal('updateUpstreamResponse'),
    name: headerName(),
    ...regexFields,
    replacement: headerValue(),
  }),
  strictFields({
    op: v.literal('updateRequest'),
    name: headerName(),
    ...regexFields,
    replacement: headerValue(),
  }),
  strictFields({ op: v.literal('setUpstreamResponse'), name: headerName(), value: headerValue() }),
  strictFields({
    op: v.literal('addResponseCookie'),
    name: v.pipe(text(), v.regex(HTTP_TOKEN, got('must be a cookie name'))),
    value: v.pipe(
      headerValue(),
      v.check((c) => !/[;,\s]/.test(c), got('must not contain ";", "," or white space')),
    ),
  }),
  strictFields({
    op: v.literal('cors'),
    /** `access-control-allow-origin`: `*`, one origin, or a list (the request's origin when listed). */
    origin: v.union([v.string(), list(text())], got('must be a string or an array of origins')),
    methods: v.optional(list(method)),
    headers: v.optional(list(headerName())),
    exposeHeaders: v.optional(list(headerName())),
    credentials: v.optional(bool()),
    maxAge: v.optional(nonNegativeInt()),
  }),
] as const;

const HANDLER_HEADER_OP_NAMES = [
  'updateResponse',
  'updateUpstreamResponse',
  'updateRequest',
  'setUpstreamResponse',
  'addResponseCookie',
  'cors',
];

/** A header change a route applies. `${req:name}` in a value is interpolated from the request header. */
export const HeaderOpSchema = v.pipe(
  plainObject(),
  v.variant(
    'op',
    [
      strictFields({ op: v.literal('setResponse'), name: headerName(), value: headerValue() }),
      strictFields({ op: v.literal('removeResponse'), name: headerName() }),
      strictFields({ op: v.literal('removeUpstreamResponse'), name: headerName() }),
      strictFields({ op: v.literal('setRequest'), name: headerName(), value: headerValue() }),
      strictFields({ op: v.literal('removeRequest'), name: headerName() }),
      ...HANDLER_HEADER_OPS,
    ],
    oneOf([
      'setResponse',
      'removeResponse',
      'removeUpstreamResponse',
      'setRequest',
      'removeRequest',
      ...HANDLER_HEADER_OP_NAMES,
    ]),
  ),
  carriedRegex(HEADER_REGEX_FLAGS),
);

/** A header change a route applies ({@link HeaderOpSchema}). */
export type HeaderOp = v.InferOutput<typeof HeaderOpSchema>;
