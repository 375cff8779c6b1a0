//! The server binary; the browser's entry point is `hydrate()` in lib.rs.

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
