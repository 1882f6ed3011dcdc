// Fuzz-pipeline smoke check: a branch gated on four exact input bytes,
// which random inputs essentially never reach (1 in 2^32) and a fuzzer
// with edge coverage from inside WASM reaches in about a second. It proves
// that the coverage build's counters reach libFuzzer; it is not kernel code.

/**
 * Reports whether `data` starts with the magic "FUZZ".
 *
 * Each byte is tested in its own branch so that every matching prefix
 * lights a new edge counter.
 *
 * @param ptr address of the input in linear memory
 * @param len number of input bytes
 * @returns 1 when the gated branch is reached, 0 otherwise
 */
export function smoke_check(ptr: usize, len: i32): i32 {
  if (len < 4) return 0;
  if (load<u8>(ptr, 0) != 0x46) return 0; // 'F'
  if (load<u8>(ptr, 1) != 0x55) return 0; // 'U'
  if (load<u8>(ptr, 2) != 0x5a) return 0; // 'Z'
  if (load<u8>(ptr, 3) != 0x5a) return 0; // 'Z'
  return 1;
}
