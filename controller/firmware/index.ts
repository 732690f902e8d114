export {
  type BuildCatalogOptions,
  type BuildCatalogResult,
  buildFirmwareCatalog,
  CATALOG_PROBLEM_KINDS,
  type CatalogProblem,
  type CatalogProblemKind,
  type DeclaredFirmwareFile,
} from './build-catalog.js';
export {
  catalogFromFiles,
  createSwappableCatalog,
  EMPTY_CATALOG,
  type FirmwareCatalog,
  type FirmwareFile,
  type ListableFirmwareCatalog,
  type SwappableCatalog,
} from './catalog.js';
export { clientAddress } from './client-address.js';
export * from './coap/index.js';
export {
  createDownloadStats,
  DOWNLOAD_PROTOCOLS,
  type DownloadEvent,
  type DownloadHandle,
  type DownloadProgress,
  type DownloadProtocol,
  type DownloadRecorder,
  type DownloadStart,
  type DownloadStats,
  type DownloadWait,
  type WaitTotals,
} from './download-stats.js';
export { isSafeFileName } from './file-name.js';
export { createHashCache, defaultHashCache, type HashCache } from './hash-cache.js';
export * from './http/index.js';
export {
  createFirmwareImageCache,
  DEFAULT_IMAGE_CACHE_BYTES,
  DEFAULT_MAX_CACHED_IMAGE_BYTES,
  type FirmwareImage,
  type FirmwareImageCache,
  type FirmwareImageCacheOptions,
  type FirmwareImageCacheStats,
} from './image-cache.js';
export {
  type ChoosePackageUriInput,
  choosePackageUri,
  type Endpoint,
  MAX_PACKAGE_URI_BYTES,
  type PackageUriReason,
  type PackageUriResult,
  PROTOCOL_SUPPORT_CODE,
  SERVED_SCHEMES,
  type ServedScheme,
} from './package-uri.js';
export {
  type PackageUriDecision,
  type PackageUriPolicy,
  type PackageUriRequest,
  packageUriFor,
} from './package-uri-policy.js';
export {
  createUrlSigner,
  type DownloadGrant,
  type KeyRing,
  signDownload,
  type UrlKeys,
  type UrlSignerOptions,
  type VerifyResult,
  verifyDownload,
} from './signed-url.js';
export { openSigningKeys, type SigningKeys, type SigningKeysOptions } from './signing-keys.js';
