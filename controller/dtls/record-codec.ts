import { ContentType, MAX_CIPHERTEXT } from './constants.js';

/** One DTLS record as it is on the wire (RFC 6347 4.1), its fragment still protected. */
export interface DtlsRecord {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  /** 48-bit sequence number; exact in a JS number. */
  readonly seq: number;
  /** RFC 9146 connection id; only on `tls12_cid` records, when the codec is given a length. */
  readonly cid?: Buffer;
  readonly fragment: Buffer;
}

export const RECORD_HEADER_LENGTH = 13;
/** Records read from one datagram at most; the rest is dropped. */
export const MAX_RECORDS_PER_DATAGRAM = 16;

/**
 * Splits a datagram into records. A truncated or oversized record ends the datagram: the records
 * before it are kept (RFC 6347 4.1.2.7 drops invalid records silently). `cidLength` is the length
 * of the connection ids this endpoint hands out (0: none, `tls12_cid` records are dropped).
 */
export function parseRecords(datagram: Buffer, cidLength = 0): DtlsRecord[] {
  const records: DtlsRecord[] = [];
  let offset = 0;
  while (offset < datagram.length && records.length < MAX_RECORDS_PER_DATAGRAM) {
    const type = datagram[offset]!;
    const cid = type === ContentType.tls12Cid ? cidLength : 0;
    const headerLength = RECORD_HEADER_LENGTH + cid;
    if (datagram.length - offset < headerLength) break;
    if (type === ContentType.tls12Cid && cidLength === 0) break;
    const length = datagram.readUInt16BE(offset + headerLength - 2);
    if (length > MAX_CIPHERTEXT || offset + headerLength + length > datagram.length) break;
    const record: DtlsRecord = {
      type,
      version: datagram.readUInt16BE(offset + 1),
      epoch: datagram.readUInt16BE(offset + 3),
      seq: datagram.readUIntBE(offset + 5, 6),
      fragment: datagram.subarray(offset + headerLength, offset + headerLength + length),
      ...(cid > 0 ? { cid: datagram.subarray(offset + 11, offset + 11 + cid) } : {}),
    };
    records.push(record);
    offset += headerLength + length;
  }
  return records;
}

/** One record's bytes; the fragment is written as given (already protected). */
export function encodeRecord(record: DtlsRecord): Buffer {
  const cid = record.cid ?? Buffer.alloc(0);
  const headerLength = RECORD_HEADER_LENGTH + cid.length;
  const out = Buffer.allocUnsafe(headerLength + record.fragment.length);
  out[0] = record.type;
  out.writeUInt16BE(record.version, 1);
  out.writeUInt16BE(record.epoch, 3);
  out.writeUIntBE(record.seq, 5, 6);
  cid.copy(out, 11);
  out.writeUInt16BE(record.fragment.length, headerLength - 2);
  record.fragment.copy(out, headerLength);
  return out;
}
