//! The connection loop, with every frontend message checked against
//! PostgreSQL's layout before pgwire decodes it.
//!
//! pgwire 0.41 decodes message bodies with unchecked reads: a `Bind` whose
//! parameter length points past the end of the message panics the connection
//! task, a short `Describe` or `Execute` does the same, and every decoder is
//! handed the whole read buffer, so a lying body reads into the next message.
//! PostgreSQL answers such a message with `08P01` and closes the connection;
//! so does Quarry. [`Checked`] sits between the socket (plain or TLS) and
//! pgwire's codec, sees whole messages, and hands a message on only once its
//! layout is known good. Until the client has authenticated a message may be
//! at most [`SMALL_MESSAGE`] bytes, as in PostgreSQL, so an anonymous client
//! cannot make the server buffer a large body.
//!
//! It also keeps pgwire from hiding invalid UTF-8: pgwire decodes query text
//! lossily, so `Query` and `Parse` text that is not UTF-8 is replaced by a
//! marker ([`invalid_utf8`]) that the query handlers turn into PostgreSQL's
//! `22021 invalid byte sequence for encoding "UTF8"`, and the session goes on.
//!
//! [`serve`] is pgwire's `process_socket` loop over the checked socket.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::{Framed, FramedParts};

use crate::error::sqlstate;

/// PostgreSQL's `PQ_SMALL_MESSAGE_LIMIT`: the largest message accepted
/// before authentication (the start-up packet included).
pub const SMALL_MESSAGE: usize = 10_000;

/// PostgreSQL's `PQ_LARGE_MESSAGE_LIMIT` for an authenticated client.
pub const LARGE_MESSAGE: usize = (1 << 30) - 1;

/// Start-up packet codes that are requests, not the start-up itself.
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;

/// A message that does not have its type's layout.
#[derive(Debug)]
pub struct Malformed(String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

/// How often a connection with a running statement checks that its client
/// is still there (PostgreSQL's `client_connection_check_interval`, which
/// Quarry keeps on: a statement whose client has gone is stopped).
const PEER_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

/// What the connection loop tells its session and hears from it.
pub trait Watch: Send + Sync + 'static {
    /// The client closed its end while a statement ran.
    fn hung_up(&self);
    /// Whether a statement is running (only then is the peer checked).
    fn busy(&self) -> bool;
    /// Cancelled when the connection must close (`pg_terminate_backend`).
    fn closing(&self) -> tokio_util::sync::CancellationToken;
}

/// Serves one TCP connection: TLS negotiation, then pgwire's message loop
/// over a [`Checked`] socket. `authenticated` is the flag the start-up
/// handler sets; `sasl` says whether the first password message is a SASL
/// initial response.
pub async fn serve<H: PgWireServerHandlers, W: Watch>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    authenticated: Arc<AtomicBool>,
    sasl: bool,
    watch: Arc<W>,
) -> io::Result<()> {
    // The statement runs in this task; a watcher beside it sees the client
    // leave (through a duplicate of the socket, so TLS needs nothing read).
    let _watcher = {
        use std::os::fd::AsFd;
        let fd = socket.as_fd().try_clone_to_owned()?;
        tokio_util::task::AbortOnDropHandle::new(tokio::spawn(watch_peer(fd, watch.clone())))
    };
    let closing = watch.closing();
    let Some(negotiated) = negotiate_tls(socket, tls).await? else {
        // A direct TLS handshake on a server without TLS.
        return Ok(());
    };
    let parts = negotiated.into_parts();
    let io = Checked::new(parts.io, parts.read_buf, authenticated, sasl);
    let mut checked = FramedParts::new(io, parts.codec);
    checked.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(checked);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    loop {
        let next = tokio::select! {
            biased;
            () = closing.cancelled() => {
                let info = ErrorInfo::new(
                    "FATAL".to_owned(),
                    sqlstate::ADMIN_SHUTDOWN.to_owned(),
                    "terminating connection due to administrator command".to_owned(),
                );
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await;
                break;
            }
            next = socket.next() => next,
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(PgWireError::IoError(e))) => {
                if let Some(malformed) = e.get_ref().and_then(|e| e.downcast_ref::<Malformed>()) {
                    let info = ErrorInfo::new(
                        "FATAL".to_owned(),
                        sqlstate::PROTOCOL_VIOLATION.to_owned(),
                        malformed.to_string(),
                    );
                    socket
                        .send(PgWireBackendMessage::ErrorResponse(info.into()))
                        .await?;
                }
                break;
            }
            Some(Err(e)) => {
                // pgwire's own decode errors (too large, unknown type): say
                // so and close, as its loop does.
                let _ = process_error(&mut socket, e, false).await;
                break;
            }
            None => break,
        };
        // The client is leaving; some (asyncpg) wait for the server to close.
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        if let Err(mut e) = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            errors.on_error(&socket, &mut e);
            process_error(&mut socket, e, extended_query).await?;
        }
    }
    Ok(())
}

/// Tells `watch` when the client has closed its end of the socket while a
/// statement runs: `POLLRDHUP` (the peer's FIN) or `POLLHUP`/`POLLERR`,
/// polled without reading, as PostgreSQL's connection check does.
async fn watch_peer<W: Watch>(fd: std::os::fd::OwnedFd, watch: Arc<W>) {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
    loop {
        tokio::time::sleep(PEER_CHECK).await;
        if !watch.busy() {
            continue;
        }
        let mut fds = [PollFd::new(&fd, PollFlags::RDHUP)];
        // A zero timeout: never blocks.
        let ready = rustix::event::poll(&mut fds, Some(&Timespec::default()));
        if ready.is_ok_and(|n| n > 0) && fds[0].revents().intersects(gone) {
            watch.hung_up();
            return;
        }
    }
}

/// A socket that hands on only whole messages whose layout is known good.
pub struct Checked<S> {
    inner: S,
    /// Bytes read from `inner` and not handed on yet.
    pending: BytesMut,
    /// How many bytes at the front of `pending` are checked.
    ready: usize,
    /// Bytes of a streamed message (COPY data) still to come from `inner`.
    streaming: usize,
    /// Before the start-up packet, messages carry no type byte.
    started: bool,
    authenticated: Arc<AtomicBool>,
    /// The next password message is a SASL initial response.
    sasl_initial: bool,
    failed: Option<String>,
}

impl<S> Checked<S> {
    pub fn new(inner: S, buffered: BytesMut, authenticated: Arc<AtomicBool>, sasl: bool) -> Self {
        Checked {
            inner,
            pending: buffered,
            ready: 0,
            streaming: 0,
            started: false,
            authenticated,
            sasl_initial: sasl,
            failed: None,
        }
    }

    fn limit(&self) -> usize {
        if self.authenticated.load(Ordering::Acquire) {
            LARGE_MESSAGE
        } else {
            SMALL_MESSAGE
        }
    }

    /// Checks the message at the front of `pending`: `Ok(true)` when bytes
    /// are ready to hand on, `Ok(false)` when more must be read first.
    fn check_front(&mut self) -> Result<bool, String> {
        if self.streaming > 0 {
            let n = self.streaming.min(self.pending.len());
            self.streaming -= n;
            self.ready = n;
            return Ok(n > 0);
        }
        if !self.started {
            return self.check_startup();
        }
        if self.pending.len() < 5 {
            return Ok(false);
        }
        let kind = self.pending[0];
        let length = i32::from_be_bytes([
            self.pending[1],
            self.pending[2],
            self.pending[3],
            self.pending[4],
        ]);
        let limit = self.limit();
        let length = match usize::try_from(length) {
            Ok(n) if (4..=limit).contains(&n) => n,
            _ => {
                return Err(format!(
                    "invalid message length {length} for message type \"{}\"",
                    kind.escape_ascii()
                ));
            }
        };
        if kind == b'd' {
            // COPY data: any bytes, possibly large; streamed through.
            self.streaming = 1 + length;
            return self.check_front();
        }
        if self.pending.len() < 1 + length {
            return Ok(false);
        }
        let body = &self.pending[5..1 + length];
        match kind {
            b'Q' => {
                let mut r = Reader::new(body, "Query");
                let text = r.cstring()?;
                r.end()?;
                if let Some(replaced) = utf8_marker(text) {
                    let mut frame = BytesMut::new();
                    frame.put_u8(b'Q');
                    frame.put_i32(4 + replaced.len() as i32 + 1);
                    frame.put_slice(replaced.as_bytes());
                    frame.put_u8(0);
                    self.replace_front(1 + length, frame);
                    return Ok(true);
                }
            }
            b'P' => {
                let mut r = Reader::new(body, "Parse");
                let name = r.cstring()?;
                let text = r.cstring()?;
                let types = r.count("parameter type count")?;
                r.skip(types * 4)?;
                r.end()?;
                if let Some(replaced) = utf8_marker(text) {
                    let mut frame = BytesMut::new();
                    frame.put_u8(b'P');
                    let replaced_length = 4 + name.len() + 1 + replaced.len() + 1 + 2;
                    frame.put_i32(replaced_length as i32);
                    frame.put_slice(name);
                    frame.put_u8(0);
                    frame.put_slice(replaced.as_bytes());
                    frame.put_u8(0);
                    frame.put_i16(0);
                    self.replace_front(1 + length, frame);
                    return Ok(true);
                }
            }
            b'B' => check_bind(body)?,
            b'D' | b'C' => {
                let what = if kind == b'D' { "Describe" } else { "Close" };
                let mut r = Reader::new(body, what);
                let target = r.byte()?;
                if target != b'S' && target != b'P' {
                    return Err(format!(
                        "invalid {what} message subtype {}",
                        target.escape_ascii()
                    ));
                }
                r.cstring()?;
                r.end()?;
            }
            b'E' => {
                let mut r = Reader::new(body, "Execute");
                r.cstring()?;
                r.skip(4)?;
                r.end()?;
            }
            b'f' => {
                let mut r = Reader::new(body, "CopyFail");
                r.cstring()?;
                r.end()?;
            }
            b'S' | b'H' | b'X' | b'c' => Reader::new(body, "message").end()?,
            b'p' if self.sasl_initial => {
                let mut r = Reader::new(body, "SASLInitialResponse");
                r.cstring()?;
                let n = r.i32()?;
                if n >= 0 {
                    r.skip(n as usize)?;
                } else if n != -1 {
                    return Err(format!("invalid SASL response length {n}"));
                }
                r.end()?;
                self.sasl_initial = false;
            }
            // Password messages and SASL responses are opaque bytes; other
            // types are refused by pgwire by their type byte.
            _ => {}
        }
        self.ready = 1 + length;
        Ok(true)
    }

    /// The start-up packet (or an SSL/GSS request before it): length, code,
    /// body; no type byte.
    fn check_startup(&mut self) -> Result<bool, String> {
        if self.pending.len() < 8 {
            return Ok(false);
        }
        let length = i32::from_be_bytes([
            self.pending[0],
            self.pending[1],
            self.pending[2],
            self.pending[3],
        ]);
        let code = i32::from_be_bytes([
            self.pending[4],
            self.pending[5],
            self.pending[6],
            self.pending[7],
        ]);
        match usize::try_from(length) {
            Ok(n) if (8..=SMALL_MESSAGE).contains(&n) => {
                if self.pending.len() < n {
                    return Ok(false);
                }
                if code != SSL_REQUEST && code != GSSENC_REQUEST {
                    self.started = true;
                }
                self.ready = n;
                Ok(true)
            }
            _ => Err(format!("invalid length of startup packet: {length}")),
        }
    }

    fn replace_front(&mut self, old: usize, frame: BytesMut) {
        let rest = self.pending.split_off(old);
        self.pending = frame;
        self.ready = self.pending.len();
        self.pending.unsplit(rest);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Checked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.ready > 0 {
                let n = this.ready.min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if let Some(message) = &this.failed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Malformed(message.clone()),
                )));
            }
            match this.check_front() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(message) => {
                    this.failed = Some(message);
                    continue;
                }
            }
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of stream: hand on what is left and let the codec
                // report the cut-off message.
                if this.pending.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                this.ready = this.pending.len();
                continue;
            }
            this.pending.extend_from_slice(read.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Checked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Bind: portal, statement, parameter formats, parameters (each a length,
/// -1 for NULL, and that many bytes), result formats; nothing after.
fn check_bind(body: &[u8]) -> Result<(), String> {
    let mut r = Reader::new(body, "Bind");
    r.cstring()?;
    r.cstring()?;
    let formats = r.count("parameter format count")?;
    r.skip(formats * 2)?;
    let parameters = r.count("parameter count")?;
    for _ in 0..parameters {
        let n = r.i32()?;
        if n >= 0 {
            r.skip(n as usize)?;
        } else if n != -1 {
            return Err(format!("invalid Bind parameter length {n}"));
        }
    }
    let results = r.count("result format count")?;
    r.skip(results * 2)?;
    r.end()
}

/// Reads one message body, as PostgreSQL's `pq_getmsg*` do.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], what: &'static str) -> Self {
        Reader { body, at: 0, what }
    }

    fn short(&self) -> String {
        format!("insufficient data left in {} message", self.what)
    }

    fn skip(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.body.len())
            .ok_or_else(|| self.short())?;
        let taken = &self.body[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.skip(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.skip(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A non-negative 16-bit count.
    fn count(&mut self, name: &str) -> Result<usize, String> {
        let b = self.skip(2)?;
        let n = i16::from_be_bytes([b[0], b[1]]);
        usize::try_from(n).map_err(|_| format!("invalid {name} {n} in {} message", self.what))
    }

    /// A NUL-terminated string, without its NUL.
    fn cstring(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.body[self.at..];
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return Err(format!("invalid string in {} message", self.what));
        };
        self.at += nul + 1;
        Ok(&rest[..nul])
    }

    fn end(&self) -> Result<(), String> {
        if self.at == self.body.len() {
            Ok(())
        } else {
            Err(format!("invalid {} message format", self.what))
        }
    }
}

/// A per-process random prefix no client can guess, so a marker cannot be
/// forged by sending its text.
static MARKER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\u{FFFF}quarry-invalid-utf8-{:032x}:",
        rand::random::<u128>()
    )
});

/// The marker text for query bytes that are not UTF-8, or `None` when they
/// are.
fn utf8_marker(text: &[u8]) -> Option<String> {
    let e = std::str::from_utf8(text).err()?;
    let start = e.valid_up_to();
    // PostgreSQL names as many bytes as the lead byte announces.
    let announced = match text[start] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    let end = (start + announced).min(text.len());
    let bytes: Vec<String> = text[start..end]
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect();
    Some(format!("{}{}", *MARKER, bytes.join(" ")))
}

/// For query text that arrived as invalid UTF-8: the bytes PostgreSQL's
/// message names (`0xff`, `0xc3 0x28`).
pub fn invalid_utf8(query: &str) -> Option<&str> {
    query.strip_prefix(MARKER.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(parameters: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_slice(b"\0s1\0");
        b.put_i16(0);
        b.put_i16(parameters.len() as i16);
        for p in parameters {
            match p {
                Some(v) => {
                    b.put_i32(v.len() as i32);
                    b.put_slice(v);
                }
                None => b.put_i32(-1),
            }
        }
        b.put_i16(0);
        b.to_vec()
    }

    #[test]
    fn a_well_formed_bind_passes() {
        assert_eq!(check_bind(&bind(&[Some(b"42"), None])), Ok(()));
    }

    #[test]
    fn a_parameter_longer_than_the_message_is_refused() {
        let mut body = bind(&[Some(b"42")]);
        // The length field of the one parameter: after "\0s1\0", 0 formats,
        // 1 parameter.
        body[8..12].copy_from_slice(&1_000_000i32.to_be_bytes());
        assert_eq!(
            check_bind(&body),
            Err("insufficient data left in Bind message".into())
        );
        body[8..12].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(check_bind(&body).expect_err("refused").contains("-7"));
    }

    #[test]
    fn truncated_and_trailing_bodies_are_refused() {
        let body = bind(&[Some(b"42")]);
        for cut in 0..body.len() {
            assert!(check_bind(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = body.clone();
        longer.push(7);
        assert_eq!(
            check_bind(&longer),
            Err("invalid Bind message format".into())
        );
    }

    #[test]
    fn invalid_utf8_names_the_bad_bytes() {
        let marker = utf8_marker(b"SELECT '\xc3\x28'").expect("a marker");
        assert_eq!(invalid_utf8(&marker), Some("0xc3 0x28"));
        let marker = utf8_marker(b"SELECT '\xe2\x82'").expect("a marker");
        assert_eq!(invalid_utf8(&marker), Some("0xe2 0x82 0x27"));
        let marker = utf8_marker(b"SELECT \xff").expect("a marker");
        assert_eq!(invalid_utf8(&marker), Some("0xff"));
        assert_eq!(utf8_marker("SELECT 'é'".as_bytes()), None);
        assert_eq!(invalid_utf8("SELECT 1"), None);
    }
}
