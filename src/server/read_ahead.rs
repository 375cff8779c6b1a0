//! A read-ahead layer under every accepted connection, holding memory only while it has bytes
//! to hand out.
//!
//! tungstenite reads at most its read buffer's size per call, and that buffer is allocated up
//! front for every connection. A large buffer makes idle connections expensive; a small one
//! makes busy ones pay a system call for every few hundred bytes (a 4 KiB offer took eight).
//! This layer reads what the kernel has, up to [`CHUNK_BYTES`] at once, into a buffer on the
//! stack, hands the reader what it asked for and keeps the rest (and only the rest) on the
//! heap until it is asked for. An idle connection keeps nothing here.

use std::{
    io,
    mem::MaybeUninit,
    pin::Pin,
    task::{ready, Context, Poll},
};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most read from the kernel at once. Enough for a burst of candidates and an offer or
/// two; kept on the stack only for the duration of one read.
pub const CHUNK_BYTES: usize = 16 * 1024;

pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read from `inner` that nobody has asked for yet, from `spill_start` on. Empty,
    /// with no allocation, most of the time.
    spill: Vec<u8>,
    spill_start: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            spill: Vec::new(),
            spill_start: 0,
        }
    }

    /// Copies what is kept into `buf`, and frees the buffer once it is all handed out.
    fn drain_spill(&mut self, buf: &mut ReadBuf<'_>) {
        let kept = &self.spill[self.spill_start..];
        let n = kept.len().min(buf.remaining());
        buf.put_slice(&kept[..n]);
        self.spill_start += n;
        if self.spill_start == self.spill.len() {
            self.spill = Vec::new();
            self.spill_start = 0;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.spill.is_empty() {
            this.drain_spill(buf);
            return Poll::Ready(Ok(()));
        }
        // A reader that asks for a lot gets it directly, without a copy.
        if buf.remaining() >= CHUNK_BYTES {
            return Pin::new(&mut this.inner).poll_read(context, buf);
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); CHUNK_BYTES];
        let mut chunk = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut this.inner).poll_read(context, &mut chunk))?;
        let read = chunk.filled();
        let n = read.len().min(buf.remaining());
        buf.put_slice(&read[..n]);
        if n < read.len() {
            this.spill = read[n..].to_vec();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

/// A listener whose connections read through [`ReadAhead`].
pub struct ReadAheadListener<L>(pub L);

impl<L: Listener> Listener for ReadAheadListener<L> {
    type Io = ReadAhead<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.0.accept().await;
        (ReadAhead::new(io), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn small_reads_are_served_from_one_read_and_nothing_is_kept_after() {
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let message: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&message).await.unwrap();
        let mut reader = ReadAhead::new(reader);

        let mut received = Vec::new();
        let mut small = [0; 512];
        while received.len() < message.len() {
            let n = reader.read(&mut small).await.unwrap();
            received.extend_from_slice(&small[..n]);
            if received.len() == 512 {
                assert_eq!(reader.spill.len(), 5000 - 512, "one read took everything");
            }
        }
        assert_eq!(received, message);
        assert_eq!(reader.spill.capacity(), 0, "nothing kept once handed out");
    }

    #[tokio::test]
    async fn the_end_of_the_stream_reads_as_zero_bytes() {
        let (writer, reader) = tokio::io::duplex(1024);
        drop(writer);
        let mut reader = ReadAhead::new(reader);
        assert_eq!(reader.read(&mut [0; 16]).await.unwrap(), 0);
    }
}
