export type CoapMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Request codes of the methods served and sent here (RFC 7252 12.1.1). */
export const METHOD_CODES: Readonly<Record<CoapMethod, string>> = {
  GET: '0.01',
  POST: '0.02',
  PUT: '0.03',
  DELETE: '0.04',
};

const METHOD_OF_CODE: ReadonlyMap<string, CoapMethod> = new Map(
  Object.entries(METHOD_CODES).map(([method, code]) => [code, method as CoapMethod]),
);

/** The method of a request code, or undefined for one not served here (FETCH, PATCH, ...). */
export function methodOf(code: string): CoapMethod | undefined {
  return METHOD_OF_CODE.get(code);
}
