// Entry point of the WASM core: re-exports every module's exports.
// Integers in, integers out; no managed objects cross this boundary.

export { hostbuf_ptr, hostbuf_size } from "./hostbuf";
export { smoke_check } from "./smoke";
export {
  cpumap_first_sibling,
  cpumap_map_queues,
  cpumap_map_swqueue,
  cpumap_max_hw_queues,
  cpumap_nr_cpus,
  cpumap_update_queue_map,
} from "./cpumap";
