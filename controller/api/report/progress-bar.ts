function clamp(ratio: number): number {
  return Number.isFinite(ratio) ? Math.max(0, Math.min(1, ratio)) : 0;
}

/**
 * `[#####-----]` for a ratio in 0..1 (clamped); plain ASCII so every terminal and log shows it.
 * `failedRatio` follows as `x` (`[###xx-----]`), at least one while it is above 0.
 */
export function progressBar(ratio: number, width = 20, failedRatio = 0): string {
  const share = clamp(ratio);
  const failedShare = clamp(failedRatio);
  const filled = Math.round(share * width);
  const failed = failedShare > 0 ? Math.max(1, Math.round(clamp(share + failedShare) * width) - filled) : 0;
  const ok = Math.min(filled, width - failed);
  return `[${'#'.repeat(ok)}${'x'.repeat(failed)}${'-'.repeat(width - ok - failed)}]`;
}

export function percent(ratio: number): string {
  return `${Math.round(clamp(ratio) * 100)}%`;
}
