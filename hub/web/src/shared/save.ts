// Hands a file fetched with a token (never by URL) to the browser as a download.

/** Saves `blob` as `name`; the object URL is revoked once the download has started. */
export function saveBlob(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  window.setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
