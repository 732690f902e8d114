import { webcrypto } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { generate, parse } from 'coap-packet';

x509.cryptoProvider.set(webcrypto as never);

export interface FileServer {
  readonly baseUrl: string;
  /** Paths requested so far. */
  readonly requests: string[];
  close(): Promise<void>;
}

function serveFiles(
  server: HttpServer,
  files: ReadonlyMap<string, Buffer>,
  scheme: string,
): Promise<FileServer> {
  const requests: string[] = [];
  server.on('request', (req, res) => {
    requests.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
      .end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        baseUrl: `${scheme}://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

export function startHttpServer(files: ReadonlyMap<string, Buffer>): Promise<FileServer> {
  return serveFiles(createHttpServer(), files, 'http');
}

export interface TestPki {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** A throwaway CA and a server certificate for 127.0.0.1, made on the fly. */
export async function generateTestPki(): Promise<TestPki> {
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=otactl sim test CA',
    keys: caKeys,
    signingAlgorithm: EC,
    notBefore: new Date(Date.now() - 60_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(EC, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC,
    notBefore: new Date(Date.now() - 60_000),
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey);
  return { caPem: ca.toString('pem'), certPem: cert.toString('pem'), keyPem: pem('PRIVATE KEY', keyDer) };
}

export function startHttpsServer(files: ReadonlyMap<string, Buffer>, pki: TestPki): Promise<FileServer> {
  return serveFiles(createHttpsServer({ cert: pki.certPem, key: pki.keyPem }), files, 'https');
}

/**
 * A small CoAP file server answering Block2 GETs, slicing each file by the requested block.
 * Also counts how many block requests it served.
 */
export async function startCoapBlockServer(
  files: ReadonlyMap<string, Buffer>,
): Promise<FileServer & { blocks: number }> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const requests: string[] = [];
  const state = { blocks: 0 };
  socket.on('message', (data, rinfo) => {
    let packet: ReturnType<typeof parse>;
    try {
      packet = parse(data);
    } catch {
      return;
    }
    if (packet.code !== '0.01' || !packet.confirmable) return;
    const path = `/${packet.options
      .filter((o) => o.name === 'Uri-Path')
      .map((o) => o.value.toString())
      .join('/')}`;
    requests.push(path);
    const body = files.get(path);
    const reply = (code: string, options: { name: string; value: Buffer }[], payload: Buffer) =>
      socket.send(
        generate({
          code,
          ack: true,
          messageId: packet.messageId,
          token: packet.token,
          options,
          payload,
        } as never),
        rinfo.port,
        rinfo.address,
      );
    if (body === undefined) {
      reply('4.04', [], Buffer.alloc(0));
      return;
    }
    const block2 = packet.options.find((o) => o.name === 'Block2')?.value;
    let raw = 0;
    for (const b of block2 ?? []) raw = raw * 256 + b;
    const szx = block2 === undefined ? 6 : Math.min(raw & 7, 6);
    const num = block2 === undefined ? 0 : raw >> 4;
    const size = 2 ** (szx + 4);
    const chunk = body.subarray(num * size, (num + 1) * size);
    const more = (num + 1) * size < body.length;
    const value = (num << 4) | (more ? 8 : 0) | szx;
    const bytes: number[] = [];
    for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    state.blocks++;
    reply('2.05', [{ name: 'Block2', value: Buffer.from(bytes) }], chunk);
  });
  const { port } = socket.address();
  return {
    baseUrl: `coap://127.0.0.1:${port}`,
    requests,
    get blocks() {
      return state.blocks;
    },
    close: () => new Promise((done) => socket.close(() => done())),
  };
}
