// SPDX-License-Identifier: GPL-2.0-only
// Base64 decoding for the embedded WASM, fastest available path first.

type FromBase64 = (s: string) => Uint8Array;
type NodeBuffer = { from(s: string, enc: "base64"): Uint8Array };

/**
 * Decodes standard base64.
 *
 * Order matters for start-up time (measured in TOOLCHAIN.md §2):
 * `Uint8Array.fromBase64` (Deno 2.9: 0.07 ms for 100 KB), then Node's
 * Buffer (0.16 ms; Deno's Buffer is slow, so not there), then `atob`.
 */
export function decodeBase64(s: string): Uint8Array {
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: FromBase64 }).fromBase64;
  if (typeof fromBase64 === "function") return fromBase64(s);
  const isDeno = "Deno" in globalThis;
  const buffer = (globalThis as unknown as { Buffer?: NodeBuffer }).Buffer;
  if (!isDeno && buffer) {
    const b = buffer.from(s, "base64");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
