//! Alert delivery to webhooks: a bounded queue the checks offer to and
//! never wait on, and a worker that POSTs each alert as JSON, retrying a
//! failed delivery with exponential backoff (0.5 s doubling, at most 30 s
//! apart, [`ATTEMPTS`] tries) in a task of its own, so one unreachable
//! listener delays no other delivery and no query. An alert offered while
//! the queue is full is dropped and counted; the `ml_alerts` row is
//! written before delivery is tried, so nothing an alert says is lost.
//!
//! The client is hyper's HTTP/1 connection (hyper is in the tree through
//! axum): `http://` URLs only; an `https://` route is refused when the
//! policy is set.
//!
//! Webhooks go only to the hosts the operator lists in
//! `--alert-webhook-hosts` ([`Hosts`]): whoever may set a model's policy
//! could otherwise make the server POST to any address it can reach (its
//! own admin ports, a cloud metadata service). A route to another host is
//! refused when the policy is set (42501), and again at delivery, for a
//! policy set before the list changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Alerts waiting for delivery at most.
pub const QUEUE: usize = 1024;
/// Deliveries in flight (each retrying) at most.
const IN_FLIGHT: usize = 64;
/// Tries per delivery.
pub const ATTEMPTS: u32 = 8;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const LONGEST_WAIT: Duration = Duration::from_secs(30);
/// One try's limit: connecting, sending, reading the status.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the notifier did, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counts {
    pub delivered: AtomicU64,
    /// Given up after [`ATTEMPTS`] tries.
    pub failed: AtomicU64,
    /// Offered while the queue was full.
    pub dropped: AtomicU64,
    /// Tries that failed (each retried or given up).
    pub retries: AtomicU64,
}

/// The hosts webhooks may go to: `host` (any port), `host:port`, `[v6]`,
/// `[v6]:port`, or `*` for any. Names are compared as written (ASCII case
/// aside); a name is not resolved to compare it with an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    any: bool,
    hosts: Vec<(String, Option<u16>)>,
}

impl Hosts {
    /// Parses a comma-separated list; an error names the entry.
    pub fn parse(list: &str) -> Result<Hosts, String> {
        let mut hosts = Hosts::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                hosts.any = true;
                continue;
            }
            let parsed = parse_url(&format!("http://{entry}/"))
                .filter(|(_, _, path)| path == "/")
                .ok_or_else(|| {
                    format!("expected host, host:port, [v6] or [v6]:port (or *), got {entry:?}")
                })?;
            let (host, port, _) = parsed;
            let explicit = entry.len() > host.len();
            hosts
                .hosts
                .push((host.to_ascii_lowercase(), explicit.then_some(port)));
        }
        Ok(hosts)
    }

    /// Whether `url` (an `http://` URL) goes to a listed host.
    pub fn allow(&self, url: &str) -> bool {
        if self.any {
            return true;
        }
        parse_url(url).is_some_and(|(host, port, _)| {
            self.hosts
                .iter()
                .any(|(h, p)| h.eq_ignore_ascii_case(&host) && p.is_none_or(|p| p == port))
        })
    }

    /// The list as given (for errors), `(none)` when empty.
    pub fn describe(&self) -> String {
        let mut items: Vec<String> = self
            .hosts
            .iter()
            .map(|(h, p)| p.map_or_else(|| h.clone(), |p| format!("{h}:{p}")))
            .collect();
        if self.any {
            items.push("*".into());
        }
        if items.is_empty() {
            "(none)".into()
        } else {
            items.join(", ")
        }
    }
}

#[derive(Debug)]
struct Delivery {
    url: String,
    body: String,
}

/// The sending side; cheap to share.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Delivery>,
    pub counts: Arc<Counts>,
    pub hosts: Arc<Hosts>,
}

impl Notifier {
    /// Starts the worker, delivering to `hosts` only; it stops with
    /// `shutdown`.
    pub fn start(hosts: Hosts, shutdown: CancellationToken) -> Notifier {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(work(receiver, counts.clone(), shutdown));
        Notifier {
            queue,
            counts,
            hosts: Arc::new(hosts),
        }
    }

    /// Queues `body` for `url`; never waits. False when dropped, or refused
    /// (a host not listed: counted as failed).
    pub fn offer(&self, url: &str, body: String) -> bool {
        if !self.hosts.allow(url) {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
            warn!(
                url,
                allowed = self.hosts.describe(),
                "alert not delivered: the host is not in --alert-webhook-hosts"
            );
            return false;
        }
        let sent = self
            .queue
            .try_send(Delivery {
                url: url.to_string(),
                body,
            })
            .is_ok();
        if !sent {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(url, "alert webhook queue full: alert dropped");
        }
        sent
    }
}

async fn work(
    mut receiver: mpsc::Receiver<Delivery>,
    counts: Arc<Counts>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            d = receiver.recv() => match d { Some(d) => d, None => return },
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (counts, shutdown) = (counts.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _slot = slot;
            deliver(delivery, &counts, &shutdown).await;
        });
    }
}

/// The wait before try `n` (1-based, n ≥ 2).
pub fn backoff(n: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1 << (n.saturating_sub(2)).min(16))
        .min(LONGEST_WAIT)
}

async fn deliver(delivery: Delivery, counts: &Counts, shutdown: &CancellationToken) {
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff(attempt)) => {}
            }
        }
        match tokio::time::timeout(TRY_TIMEOUT, post(&delivery.url, &delivery.body)).await {
            Ok(Ok(())) => {
                counts.delivered.fetch_add(1, Ordering::Relaxed);
                debug!(url = delivery.url, attempt, "alert delivered");
                return;
            }
            Ok(Err(why)) => {
                counts.retries.fetch_add(1, Ordering::Relaxed);
                debug!(url = delivery.url, attempt, why, "alert delivery failed");
            }
            Err(_) => {
                counts.retries.fetch_add(1, Ordering::Relaxed);
                debug!(url = delivery.url, attempt, "alert delivery timed out");
            }
        }
    }
    counts.failed.fetch_add(1, Ordering::Relaxed);
    warn!(
        url = delivery.url,
        attempts = ATTEMPTS,
        "alert not delivered: gave up"
    );
}

/// Host, port and path of an `http://` URL.
pub fn parse_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let (host, rest) = authority.split_at(authority.find(']')? + 1);
        match rest {
            "" => (host, 80),
            _ => (host, rest.strip_prefix(':')?.parse().ok()?),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return None,
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, 80),
        }
    };
    (!host.is_empty()).then(|| (host.to_string(), port, path.to_string()))
}

/// One POST; Ok on a 2xx answer.
async fn post(url: &str, body: &str) -> Result<(), String> {
    let (host, port, path) = parse_url(url).ok_or("not an http:// URL")?;
    let stream = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "quarry-alerts")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_backoff() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000/hook"),
            Some(("127.0.0.1".into(), 9000, "/hook".into()))
        );
        assert_eq!(
            parse_url("http://alerts.example"),
            Some(("alerts.example".into(), 80, "/".into()))
        );
        assert_eq!(parse_url("https://x/y"), None);
        assert_eq!(parse_url("http://user@x/y"), None);
        assert_eq!(parse_url("http://:80/"), None);
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(5), Duration::from_secs(4));
        assert_eq!(backoff(8), Duration::from_secs(30));
        let total: Duration = (2..=ATTEMPTS).map(backoff).sum();
        assert!(total < Duration::from_secs(120), "{total:?}");
        assert_eq!(
            parse_url("http://[::1]/h"),
            Some(("[::1]".into(), 80, "/h".into()))
        );
        assert_eq!(
            parse_url("http://[::1]:81"),
            Some(("[::1]".into(), 81, "/".into()))
        );
        assert_eq!(parse_url("http://::1:81/"), None);
        assert_eq!(parse_url("http://[::1]x/"), None);
    }

    #[test]
    fn webhooks_go_only_to_listed_hosts() -> Result<(), String> {
        let hosts = Hosts::parse("127.0.0.1:9000, Hooks.Example ,[::1]:81")?;
        assert!(hosts.allow("http://127.0.0.1:9000/a"));
        assert!(!hosts.allow("http://127.0.0.1:9001/a"));
        assert!(!hosts.allow("http://127.0.0.2:9000/a"));
        assert!(hosts.allow("http://hooks.example/x"));
        assert!(hosts.allow("http://HOOKS.example:8080/x"));
        assert!(hosts.allow("http://[::1]:81/"));
        assert!(!hosts.allow("http://[::1]/"));
        assert!(!hosts.allow("http://169.254.169.254/latest/meta-data"));
        assert_eq!(hosts.describe(), "127.0.0.1:9000, hooks.example, [::1]:81");
        let none = Hosts::parse("")?;
        assert!(!none.allow("http://127.0.0.1:9000/a"));
        assert_eq!(none.describe(), "(none)");
        assert!(Hosts::parse("*")?.allow("http://10.0.0.1/"));
        for bad in ["http://x", "x/y", "x:port", "a@b", "::1"] {
            assert!(Hosts::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_unlisted_host_is_refused_at_delivery_and_counted() -> Result<(), String> {
        let stop = CancellationToken::new();
        let notifier = Notifier::start(Hosts::parse("127.0.0.1:9")?, stop.clone());
        assert!(!notifier.offer("http://10.0.0.1/hook", "{}".into()));
        assert_eq!(notifier.counts.failed.load(Ordering::Relaxed), 1);
        assert_eq!(notifier.counts.dropped.load(Ordering::Relaxed), 0);
        stop.cancel();
        Ok(())
    }
}
