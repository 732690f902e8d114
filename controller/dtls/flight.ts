import { ContentType } from './constants.js';
import { fragmentHandshake, HANDSHAKE_HEADER_LENGTH } from './handshake-codec.js';
import type { RecordState } from './record-state.js';

/** One record of a flight: handshake payloads are whole messages, fragmented when sent. */
export interface FlightEntry {
  readonly type: number;
  readonly epoch: number;
  readonly payload: Buffer;
}

/**
 * Seals a flight into datagrams of at most `mtu` bytes: handshake messages are fragmented to fit,
 * several records share a datagram when they fit. Used by both sides of a handshake.
 */
export function packFlight(records: RecordState, flight: readonly FlightEntry[], mtu: number): Buffer[] {
  const datagrams: Buffer[] = [];
  let datagram: Buffer[] = [];
  let size = 0;
  const flush = (): void => {
    if (datagram.length > 0) datagrams.push(Buffer.concat(datagram));
    datagram = [];
    size = 0;
  };
  for (const entry of flight) {
    const overhead = records.overhead(entry.epoch);
    const payloads =
      entry.type === ContentType.handshake
        ? fragmentHandshake(entry.payload, Math.max(16, mtu - overhead - HANDSHAKE_HEADER_LENGTH))
        : [entry.payload];
    for (const payload of payloads) {
      const record = records.seal(entry.type, payload, entry.epoch);
      if (record === undefined) continue;
      if (size + record.length > mtu) flush();
      datagram.push(record);
      size += record.length;
    }
  }
  flush();
  return datagrams;
}
