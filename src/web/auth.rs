//! Basic authentication for `basic_auth_users` (bcrypt hashes, as in
//! exporter-toolkit) and the extra headers of `http_server_config`, as one
//! middleware in front of every route.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::config::{Problem, WebConfig, problem};

/// Successful logins remembered, so that a scrape every few seconds does
/// not pay a bcrypt verification each time. A handful of users is the use
/// case; only a right password gets in, so only someone who knows one can
/// push the real scraper out, and then only the least recently used.
const AUTH_CACHE_CAPACITY: usize = 100;

/// Verifications waiting for a slot, per slot. bcrypt at cost 10 takes tens
/// of milliseconds, so a check that would wait behind more than a few is
/// refused at once: a flood of wrong passwords then costs the flood its
/// answers, not the other clients their latency, and no queue grows.
const BCRYPT_WAITING_PER_SLOT: usize = 4;

/// The bcrypt slots: half the cores, at least one. A flood of passwords to
/// check can take that much CPU and no more; the poller and the scrapes of
/// clients already verified keep the rest.
fn bcrypt_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .max(1)
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No credentials, or not these.
    Unauthorized,
    /// Too many password checks at once; try again.
    Busy,
}

pub(super) struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Hash verified for an unknown user, so that a wrong user name costs as
    /// long as a wrong password and user names cannot be probed by timing.
    decoy_hash: String,
    /// Successful logins, keyed by a SHA-256 of user, hash and password so
    /// that no password is kept in memory. Failures are not remembered: a
    /// stream of them must not push a success out.
    verified: Mutex<Lru>,
    bcrypt_slots: Arc<tokio::sync::Semaphore>,
    /// Checks waiting for a bcrypt slot, bounded by `max_waiting`.
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl BasicAuth {
    pub(super) fn new(users: BTreeMap<String, String>) -> Result<Self, Problem> {
        for (user, hash) in &users {
            let key = format!("basic_auth_users.{user}");
            let parts = hash.parse::<bcrypt::HashParts>().map_err(|err| {
                problem(
                    &key,
                    format!(
                        "not a bcrypt hash ({err}); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
                    ),
                )
            })?;
            // bcrypt refuses to verify against any other cost, which would
            // make the right password fail with nothing logged.
            let cost = parts.get_cost();
            if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
                return Err(problem(
                    &key,
                    format!(
                        "bcrypt cost {cost:02} is outside {BCRYPT_MIN_COST}..={BCRYPT_MAX_COST}, the costs bcrypt accepts; make a new hash with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
                    ),
                ));
            }
        }
        let decoy_hash = users.values().next().cloned().unwrap_or_default();
        let slots = bcrypt_slots();
        Ok(Self {
            users,
            decoy_hash,
            verified: Mutex::new(Lru::new(AUTH_CACHE_CAPACITY)),
            bcrypt_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            max_waiting: slots * BCRYPT_WAITING_PER_SLOT,
        })
    }

    /// Names of the users, sorted.
    pub(super) fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn allows(&self, user: &str, password: &str) -> Result<(), Refusal> {
        let (known_user, hash) = match self.users.get(user) {
            Some(hash) => (true, hash.clone()),
            None => (false, self.decoy_hash.clone()),
        };
        let cache_key = credentials_digest(user, &hash, password);
        if known_user && self.verified().touch(&cache_key) {
            return Ok(());
        }
        let slot = match Arc::clone(&self.bcrypt_slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let _waiting = Waiting::join(&self.waiting, self.max_waiting)?;
                Arc::clone(&self.bcrypt_slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| Refusal::Busy)?
            }
        };
        let password = password.to_owned();
        // The slot goes with the verification: a client that hangs up does
        // not free it before bcrypt is done.
        let matches = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if known_user && matches {
            self.verified().insert(cache_key);
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }
}

/// The costs the bcrypt crate hashes and verifies with.
const BCRYPT_MIN_COST: u32 = 4;
const BCRYPT_MAX_COST: u32 = 31;

/// A place in the queue for a bcrypt slot, given up on drop.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(waiting: &'a AtomicUsize, max: usize) -> Result<Self, Refusal> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < max).then_some(now + 1)
            })
            .map_err(|_| Refusal::Busy)?;
        Ok(Self(waiting))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Least recently used set of digests. A hundred entries are scanned
/// faster than they are hashed, so a deque is the whole structure.
struct Lru {
    capacity: usize,
    /// Most recently used last.
    entries: VecDeque<[u8; 32]>,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: VecDeque::with_capacity(capacity),
        }
    }

    /// Whether `key` is in, making it the most recently used.
    fn touch(&mut self, key: &[u8; 32]) -> bool {
        let Some(at) = self.entries.iter().position(|entry| entry == key) else {
            return false;
        };
        if let Some(entry) = self.entries.remove(at) {
            self.entries.push_back(entry);
        }
        true
    }

    fn insert(&mut self, key: [u8; 32]) {
        if self.touch(&key) {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(key);
    }
}

fn credentials_digest(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

/// `user:password` from an `Authorization: Basic` header.
fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

struct Guard {
    basic_auth: Option<Arc<BasicAuth>>,
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let allowed = match &guard.basic_auth {
        None => Ok(()),
        Some(auth) => match basic_credentials(&request) {
            Some((user, password)) => auth.allows(&user, &password).await,
            None => Err(Refusal::Unauthorized),
        },
    };
    let mut response = match allowed {
        Ok(()) => next.run(request).await,
        Err(Refusal::Unauthorized) => (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
            "Unauthorized\n",
        )
            .into_response(),
        Err(Refusal::Busy) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(RETRY_AFTER, HeaderValue::from_static("1"))],
            "Too many password checks at once; try again\n",
        )
            .into_response(),
    };
    // Set on every response, the 401 included, as exporter-toolkit does.
    for (name, value) in guard.headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// `app` behind the basic authentication and the extra headers of `web`.
pub fn protect(app: Router, web: &WebConfig) -> Router {
    if web.basic_auth.is_none() && web.headers.is_empty() {
        return app;
    }
    let state = Arc::new(Guard {
        basic_auth: web.basic_auth.clone(),
        headers: web.headers.clone(),
    });
    app.layer(axum::middleware::from_fn_with_state(state, guard))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn the_login_cache_evicts_the_least_recently_used_login() {
        let mut lru = Lru::new(3);
        for n in 1..=3 {
            lru.insert(key(n));
        }
        // 1 is used again, so 2 is now the least recently used.
        assert!(lru.touch(&key(1)));
        lru.insert(key(4));
        let kept: Vec<bool> = (1..=4).map(|n| lru.touch(&key(n))).collect();
        assert_eq!(kept, vec![true, false, true, true]);
        assert_eq!(lru.entries.len(), 3);
    }

    #[test]
    fn a_full_bcrypt_queue_refuses_at_once_and_frees_its_places() {
        let waiting = AtomicUsize::new(0);
        let first = Waiting::join(&waiting, 2).expect("room");
        let second = Waiting::join(&waiting, 2).expect("room");
        assert!(matches!(Waiting::join(&waiting, 2), Err(Refusal::Busy)));
        drop(first);
        drop(second);
        assert_eq!(waiting.load(Ordering::Acquire), 0);
        assert!(Waiting::join(&waiting, 2).is_ok());
    }

    #[test]
    fn hashes_with_a_cost_bcrypt_refuses_fail_naming_the_user() {
        let good = bcrypt::hash("pw", 4).expect("hash");
        let mut failures = Vec::new();
        for cost in ["03", "99", "00", "32"] {
            let bad = format!("{}{cost}{}", &good[..4], &good[6..]);
            let users = BTreeMap::from([("scraper".to_owned(), bad)]);
            match BasicAuth::new(users) {
                Ok(_) => failures.push(format!("cost {cost}: accepted")),
                Err((key, message)) => {
                    if key != "basic_auth_users.scraper" || !message.contains(cost) {
                        failures.push(format!("cost {cost}: {key}: {message}"));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
