import type { DeviceSelector } from './desired-state.js';
import { globToRegex } from './endpoint-glob.js';
import { SELECTOR_ATTRIBUTES } from './kinds.js';

/** What a selector sees of a device: its endpoint name and the object 3 attributes it reported. */
export interface DeviceFacts {
  readonly endpoint: string;
  readonly manufacturer?: string | undefined;
  readonly model?: string | undefined;
  readonly hardwareVersion?: string | undefined;
  readonly deviceType?: string | undefined;
}

const matcherCache = new WeakMap<readonly string[], (endpoint: string) => boolean>();

/**
 * Whether the device belongs to the selector's group: the endpoint lists match (the endpoint
 * is in `endpoints` or matches one of `endpointPatterns`; both empty: no restriction) and every
 * attribute equals the device's value (an attribute the device did not report does not match).
 */
export function matchesSelector(selector: DeviceSelector, device: DeviceFacts): boolean {
  const hasLists = selector.endpoints.length > 0 || selector.endpointPatterns.length > 0;
  if (
    hasLists &&
    !selector.endpoints.includes(device.endpoint) &&
    !patternMatcher(selector.endpointPatterns)(device.endpoint)
  ) {
    return false;
  }
  for (const attribute of SELECTOR_ATTRIBUTES) {
    const wanted = selector.attributes[attribute];
    if (wanted !== undefined && device[attribute] !== wanted) return false;
  }
  return true;
}

/** Whether an endpoint name matches the selector's endpoint lists, ignoring attributes. */
export function matchesEndpointLists(selector: DeviceSelector, endpoint: string): boolean {
  return selector.endpoints.includes(endpoint) || patternMatcher(selector.endpointPatterns)(endpoint);
}

function patternMatcher(patterns: readonly string[]): (endpoint: string) => boolean {
  let matcher = matcherCache.get(patterns);
  if (!matcher) {
    // The same translation the database uses (reconcile/read/selector-sql.ts), so both always agree.
    const regexes = patterns.map((p) => new RegExp(globToRegex(p)));
    matcher = (endpoint) => regexes.some((r) => r.test(endpoint));
    matcherCache.set(patterns, matcher);
  }
  return matcher;
}
