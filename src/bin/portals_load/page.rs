//! Timing page loads while the signalling load runs: plain HTTP/1.1 over TCP, one request per
//! connection, read to the end, so that what is timed is the server and nothing else.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

pub struct PageTiming {
    pub requests: u32,
    pub failures: u32,
    /// Milliseconds, one per successful request.
    pub durations_ms: Vec<f64>,
}

/// GETs `url` up to `count` times in a row, spread over `within`.
pub async fn time_requests(
    url: String,
    count: u32,
    within: Duration,
) -> Result<PageTiming, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    );
    let pause = within.div_f64(f64::from(count) * 2.0);
    let mut timing = PageTiming {
        requests: count,
        failures: 0,
        durations_ms: Vec::with_capacity(count as usize),
    };
    let mut body = Vec::with_capacity(64 * 1024);
    for _ in 0..count {
        let started = Instant::now();
        let result = timeout(Duration::from_secs(10), async {
            let mut stream = TcpStream::connect(authority).await?;
            stream.write_all(request.as_bytes()).await?;
            body.clear();
            stream.read_to_end(&mut body).await?;
            Ok::<_, std::io::Error>(body.starts_with(b"HTTP/1.1 200"))
        })
        .await;
        match result {
            Ok(Ok(true)) => timing
                .durations_ms
                .push(started.elapsed().as_secs_f64() * 1000.0),
            _ => timing.failures += 1,
        }
        tokio::time::sleep(pause).await;
    }
    Ok(timing)
}
