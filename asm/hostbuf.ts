// The host window: a fixed region of linear memory through which the
// TypeScript side passes byte strings (fuzz inputs, sysfs pages, payloads)
// without any managed allocation. One window per instance; callers copy in,
// call, and copy out before the next call.

/** Size of the host window in bytes. */
export const HOSTBUF_SIZE: i32 = 65536;

const HOSTBUF: usize = memory.data(HOSTBUF_SIZE, 16);

/** @returns the address of the host window. */
export function hostbuf_ptr(): usize {
  return HOSTBUF;
}

/** @returns the size of the host window in bytes. */
export function hostbuf_size(): i32 {
  return HOSTBUF_SIZE;
}
