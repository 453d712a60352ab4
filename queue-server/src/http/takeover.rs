//! How an event stream leaves hyper's connection after its request head.
//!
//! hyper keeps two 8 KiB buffers for as long as it owns a connection (its
//! read buffer and the write buffer's initial capacity), which an SSE
//! stream, a response that never ends, would hold for minutes: three times
//! the memory budget of an idle watcher. A WebSocket escapes through the
//! upgrade; an SSE stream cannot (hyper only hands over a connection after a
//! 101), so it takes the connection over instead:
//!
//! 1. the handler parks the stream in the connection's [`Client`] and answers
//!    a placeholder marked `Connection: close`;
//! 2. [`ClientIo`] swallows what hyper writes from then on, and its closing,
//!    so hyper finishes the connection without a byte reaching the client;
//! 3. the connection task takes the socket back from hyper
//!    (`UpgradeableConnection::into_parts`), drops hyper's state, and runs
//!    the stream on the bare socket (`stream::run_event_stream`), which
//!    writes its own response head.
//!
//! Requests pipelined behind an event-stream request are never answered
//! (the stream never ends, so they could not be anyway).

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::push::StreamGuard;

/// What a request knows of the connection it came on.
#[derive(Debug)]
pub struct Client {
    /// The client's address, for the per-IP stream cap.
    pub peer: Option<IpAddr>,
    event_stream: Mutex<Option<StreamGuard>>,
    taken_over: AtomicBool,
}

impl Client {
    pub fn new(peer: Option<IpAddr>) -> Self {
        Client {
            peer,
            event_stream: Mutex::new(None),
            taken_over: AtomicBool::new(false),
        }
    }

    /// The current request becomes an event stream: hyper's answer to it is
    /// swallowed and the connection runs `stream` once hyper lets go.
    pub(super) fn take_over(&self, stream: StreamGuard) {
        *self.event_stream.lock() = Some(stream);
        self.taken_over.store(true, Ordering::Release);
    }

    /// The stream parked by [`Client::take_over`], once.
    pub(super) fn event_stream(&self) -> Option<StreamGuard> {
        self.event_stream.lock().take()
    }

    fn is_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::Acquire)
    }
}

/// The socket as hyper sees it: plain pass-through until the connection is
/// taken over, then a sink for hyper's writes and its shutdown.
#[derive(Debug)]
pub(super) struct ClientIo {
    socket: TcpStream,
    client: Arc<Client>,
}

impl ClientIo {
    pub(super) fn new(socket: TcpStream, client: Arc<Client>) -> Self {
        ClientIo { socket, client }
    }

    pub(super) fn into_socket(self) -> TcpStream {
        self.socket
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.client.is_taken_over() {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.client.is_taken_over() {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.client.is_taken_over() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.client.is_taken_over() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}
