//! The `spindle` command: see `spindle --help`, or [`spindle::cli`].

/// Every allocation of the process is counted, so that `spindle kv` reports `used_memory` and
/// applies `maxmemory` to what it really holds, as Redis does with its allocator's count.
#[global_allocator]
static ALLOC: spindle_kv::alloc::CountingAlloc = spindle_kv::alloc::CountingAlloc;

fn main() {
    let args = std::env::args().skip(1).collect();
    std::process::exit(spindle::cli::main(args));
}
