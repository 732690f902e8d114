import type {
  DownloadRecorder,
  FirmwareCatalog,
  FirmwareHttpHandlerOptions,
  FirmwareImageCache,
  SigningKeys,
} from '../firmware/index.js';

/**
 * What the firmware servers (HTTP, HTTPS, CoAP /fw/) share: the files declared by the valid
 * manifests, the download statistics, the keys of signed links and the per-client limits.
 */
export interface FirmwareServing {
  readonly catalog: FirmwareCatalog;
  /** One cache of verified images for every firmware server. */
  readonly images: FirmwareImageCache;
  readonly stats: DownloadRecorder;
  /** Absent when links are not signed; read once its part has started. */
  readonly signingKeys?: { readonly current: SigningKeys };
  readonly now: () => number;
  readonly maxDownloadsPerClient?: number;
  readonly downloadQueuePerClient?: number;
}

/** A firmware handler's options, for a server starting now (the link keys are open by then). */
export function firmwareHandlerOptions(serving: FirmwareServing): FirmwareHttpHandlerOptions {
  const signingKey = serving.signingKeys?.current;
  return {
    catalog: serving.catalog,
    images: serving.images,
    stats: serving.stats,
    ...(signingKey ? { signingKey } : {}),
    now: serving.now,
    ...(serving.maxDownloadsPerClient !== undefined
      ? { maxDownloadsPerClient: serving.maxDownloadsPerClient }
      : {}),
    ...(serving.downloadQueuePerClient !== undefined
      ? { downloadQueuePerClient: serving.downloadQueuePerClient }
      : {}),
  };
}
