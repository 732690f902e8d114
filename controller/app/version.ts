/** otactl's version, as `otactl --version` prints it and each replica's row records it. */
export const OTACTL_VERSION = '0.1.0';
