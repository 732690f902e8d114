import { OutgoingMessage } from 'coap';

/** The parts of a node-coap request the firmware handler reads. */
export interface CoapRequestLike {
  readonly url: string;
  readonly method?: string;
  readonly options?: readonly { readonly name: string | number; readonly value: unknown }[];
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly rsinfo: { readonly address: string; readonly port: number };
}

/** The parts of a node-coap response the firmware handler writes. */
export interface CoapResponseLike {
  code: string;
  setOption(name: string, value: Buffer | number | string | Buffer[]): unknown;
  end(payload?: Buffer): unknown;
}

export function requestOptionValues(req: CoapRequestLike, name: string): unknown[] {
  return (req.options ?? []).filter((option) => option.name === name).map((option) => option.value);
}

/**
 * Sends a response exactly as built. node-coap's server response (`OutMessage.end`) re-slices any
 * payload when the request carried Block2 and caches the whole payload per token; the handler slices
 * the block itself, so the plain OutgoingMessage `end` is used to bypass both.
 */
export function sendAsIs(res: CoapResponseLike, payload?: Buffer): void {
  if (res instanceof OutgoingMessage) OutgoingMessage.prototype.end.call(res, payload);
  else res.end(payload);
}
