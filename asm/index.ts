// Entry point of the WASM core: re-exports every module's exports.
// Integers in, integers out; no managed objects cross this boundary.

export { hostbuf_ptr, hostbuf_size } from "./hostbuf";
export { smoke_check } from "./smoke";
