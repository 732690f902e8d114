import { Decoder, Encoder } from 'cbor-x';
import type { ObjectModel } from '../model/types.js';
import { recordsToSenml, type SenmlRecord, senmlToRecords } from './senml.js';
import { checkSenmlRecord } from './senml-record-check.js';
import type { DecodeResult, ResourceRecord } from './types.js';

/** SenML CBOR labels (RFC 8428 §6); `vlo` has no integer label and stays a text key. */
const LABELS = { bn: -2, bt: -3, n: 0, u: 1, v: 2, vs: 3, vb: 4, vd: 8, t: 6, vlo: 'vlo' } as const;
const ORDER = ['bn', 'bt', 'n', 't', 'v', 'vs', 'vb', 'vd', 'vlo'] as const;

// Plain CBOR only: no cbor-x record extension, no typed-array tags, maps decoded as Map (integer keys).
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  tagUint8Array: false,
  variableMapSize: true,
});
// `int64AsType` is supported by cbor-x at runtime but missing from its typings.
const decoderOptions = { useRecords: false, mapsAsObjects: false, int64AsType: 'bigint' };
const decoder = new Decoder(decoderOptions as ConstructorParameters<typeof Decoder>[0]);

/** SenML CBOR (content format 112). */
export function encodeSenmlCbor(
  basePath: string,
  records: readonly ResourceRecord[],
  model?: ObjectModel,
): Buffer {
  const pack = recordsToSenml(basePath, records, model).map((r) => {
    const m = new Map<number | string, unknown>();
    for (const k of ORDER) if (r[k] !== undefined) m.set(LABELS[k], r[k]);
    return m;
  });
  return Buffer.from(encoder.encode(pack));
}

export function decodeSenmlCbor(payload: Buffer, model?: ObjectModel): DecodeResult {
  let parsed: unknown;
  try {
    parsed = decoder.decode(payload);
  } catch (err) {
    return { ok: false, error: `invalid CBOR: ${(err as Error).message}` };
  }
  if (!Array.isArray(parsed)) return { ok: false, error: 'SenML CBOR must be an array' };
  const pack: SenmlRecord[] = [];
  for (let index = 0; index < parsed.length; index++) {
    const item: unknown = parsed[index];
    if (!(item instanceof Map)) return { ok: false, error: `record ${index} is not a map` };
    // By label, not by iterating the map: no entry arrays, and one object shape for every record.
    // Other labels are ignored; a label given twice counts once, by its last value (as Map keeps it).
    const vd: unknown = item.get(LABELS.vd);
    const checked = checkSenmlRecord(
      {
        bn: item.get(LABELS.bn),
        bt: item.get(LABELS.bt),
        n: item.get(LABELS.n),
        t: item.get(LABELS.t),
        v: item.get(LABELS.v),
        vs: item.get(LABELS.vs),
        vb: item.get(LABELS.vb),
        vd: vd instanceof Uint8Array && !Buffer.isBuffer(vd) ? Buffer.from(vd) : vd,
        vlo: item.get(LABELS.vlo),
      },
      index,
    );
    if (!checked.ok) return checked;
    pack.push(checked.record);
  }
  return senmlToRecords(pack, model);
}
