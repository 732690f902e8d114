export { type CreatePkiOptions, createPki, type PkiMaterial } from './create-pki.js';
export { type ParsedHosts, parseHosts, type SubjectName } from './host-names.js';
export { type InitPkiOptions, type InitPkiResult, initPki } from './init-pki.js';
export { type LoadServerTlsResult, loadServerTls } from './load-server-tls.js';
export { TLS_FILES } from './tls-files.js';
