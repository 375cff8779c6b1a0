//! The bundle's precompressed files, sent only while they are the bundle's.
//!
//! `cargo leptos build --release --precompress` (`make serve`) leaves a brotli and a gzip file
//! beside each of the bundle's files, and the static route (leptos_axum's, tower-http's
//! `ServeDir`) sends one of them to a browser that accepts it. A later build without
//! `--precompress` (`make run`, the end-to-end tests) rewrites the plain files and leaves the
//! old compressed ones: served, they would pair a new `portals.js` with an old
//! `portals.wasm`, and the page would fail to start. So a request for a file whose `.br` or
//! `.gz` is older than the file itself is answered as if the browser accepted no encoding.
//! Two `stat`s per request for a static file; none for the pages and the API.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::Response,
};

/// Where the site's static files are (`LeptosOptions::site_root`).
#[derive(Clone, Debug)]
pub struct SiteRoot(pub Arc<Path>);

/// Middleware: drops `Accept-Encoding` from a request for a static file whose precompressed
/// copies are stale (see the module's header).
pub async fn only_fresh_encodings(
    State(root): State<SiteRoot>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.headers().contains_key(header::ACCEPT_ENCODING) {
        if let Some(file) = static_file(&root.0, request.uri().path()) {
            if has_stale_copy(&file) {
                request.headers_mut().remove(header::ACCEPT_ENCODING);
            }
        }
    }
    next.run(request).await
}

/// The file a request path names under `root`, if it names one there (no `..`).
fn static_file(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    let plain = relative
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    (plain && relative.extension().is_some()).then(|| root.join(relative))
}

fn has_stale_copy(file: &Path) -> bool {
    let modified = |path: &Path| path.metadata().and_then(|meta| meta.modified()).ok();
    let Some(plain) = modified(file) else {
        return false;
    };
    ["br", "gz"].iter().any(|suffix| {
        let mut copy = file.as_os_str().to_owned();
        copy.push(".");
        copy.push(suffix);
        modified(Path::new(&copy)).is_some_and(|copied: SystemTime| copied < plain)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_under_the_root_name_a_file() {
        let root = Path::new("/site");
        assert_eq!(
            static_file(root, "/pkg/portals.wasm"),
            Some(PathBuf::from("/site/pkg/portals.wasm"))
        );
        assert_eq!(static_file(root, "/pkg/../../etc/passwd"), None);
        assert_eq!(static_file(root, "/"), None);
        assert_eq!(static_file(root, "/portal"), None);
    }
}
