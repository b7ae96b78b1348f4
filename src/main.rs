fn main() {
    std::process::exit(logpipe::cli::main());
}
