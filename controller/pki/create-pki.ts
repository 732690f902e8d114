import { webcrypto } from 'node:crypto';
// tsyringe, under @peculiar/x509, needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { SubjectName } from './host-names.js';

const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PkiMaterial {
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly serverCertPem: string;
  readonly serverKeyPem: string;
}

export interface CreatePkiOptions {
  readonly names: readonly SubjectName[];
  readonly now?: Date;
  readonly caValidityDays?: number;
  readonly serverValidityDays?: number;
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  return Buffer.from(bytes).toString('hex');
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A fresh CA (ECDSA P-256) and a server certificate it signed for `names`. */
export async function createPki(options: CreatePkiOptions): Promise<PkiMaterial> {
  const notBefore = new Date((options.now ?? new Date()).getTime() - 60_000);
  const caKeys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const serverKeys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const caName = 'CN=otactl firmware CA';
  const firstName = options.names[0]?.value ?? 'otactl';

  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: caName,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.caValidityDays ?? 3650) * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  const serverCert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: `CN=${firstName}`,
      issuer: caCert.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.serverValidityDays ?? 825) * DAY_MS),
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: serverKeys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(
          options.names.map((name) => ({ type: name.kind, value: name.value })),
          false,
        ),
        await x509.SubjectKeyIdentifierExtension.create(serverKeys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );

  return {
    caCertPem: caCert.toString('pem'),
    caKeyPem: await privateKeyPem(caKeys.privateKey),
    serverCertPem: serverCert.toString('pem'),
    serverKeyPem: await privateKeyPem(serverKeys.privateKey),
  };
}
