// Events are many small, short-lived allocations freed on another thread than the one that
// made them (decode on a worker, free after the output acknowledges): mimalloc's per-thread
// free lists handle that without the page trimming and refaulting glibc's allocator does between
// batches (see BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(logpipe::cli::main());
}
