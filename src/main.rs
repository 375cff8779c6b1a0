//! The server binary; the browser's entry point is `hydrate()` in lib.rs.

/// See Cargo.toml: a smaller idle connection than with the system's malloc.
#[cfg(all(
    feature = "ssr",
    not(target_env = "msvc"),
    not(portals_system_allocator)
))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;

    let config = portals::server::config::Config::parse();
    portals::server::init_tracing(&config.log);
    match portals::server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portals: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser build has no binary: see `hydrate()` in lib.rs.
}
