//! Basic authentication for `basic_auth_users` (bcrypt hashes, as in
//! exporter-toolkit) and the extra headers of `http_server_config`, as one
//! middleware in front of every route.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::config::{Problem, WebConfig, problem};

/// Verified credentials remembered, so that a scrape every few seconds does
/// not pay a bcrypt verification each time. A handful of users is the use
/// case; the bound only stops a client cycling passwords from growing it.
const AUTH_CACHE_CAPACITY: usize = 100;

pub(super) struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Hash verified for an unknown user, so that a wrong user name costs as
    /// long as a wrong password and user names cannot be probed by timing.
    decoy_hash: String,
    /// Outcome of past verifications, keyed by a SHA-256 of user, hash and
    /// password so that no password is kept in memory.
    verified: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time: a burst of bad passwords then costs one core,
    /// not all of them.
    bcrypt_slot: tokio::sync::Semaphore,
}

impl BasicAuth {
    pub(super) fn new(users: BTreeMap<String, String>) -> Result<Self, Problem> {
        for (user, hash) in &users {
            hash.parse::<bcrypt::HashParts>().map_err(|err| {
                problem(
                    &format!("basic_auth_users.{user}"),
                    format!(
                        "not a bcrypt hash ({err}); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
                    ),
                )
            })?;
        }
        let decoy_hash = users.values().next().cloned().unwrap_or_default();
        Ok(Self {
            users,
            decoy_hash,
            verified: Mutex::new(HashMap::new()),
            bcrypt_slot: tokio::sync::Semaphore::new(1),
        })
    }

    /// Names of the users, sorted.
    pub(super) fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    async fn allows(&self, user: &str, password: &str) -> bool {
        let (known_user, hash) = match self.users.get(user) {
            Some(hash) => (true, hash.clone()),
            None => (false, self.decoy_hash.clone()),
        };
        let cache_key = credentials_digest(user, &hash, password);
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&cache_key)
            .copied();
        let matches = match cached {
            Some(matches) => matches,
            None => {
                let Ok(_slot) = self.bcrypt_slot.acquire().await else {
                    return false;
                };
                let password = password.to_owned();
                let matches = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(password, &hash).unwrap_or(false)
                })
                .await
                .unwrap_or(false);
                let mut verified = self
                    .verified
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if verified.len() >= AUTH_CACHE_CAPACITY
                    && let Some(evicted) = verified.keys().next().copied()
                {
                    verified.remove(&evicted);
                }
                verified.insert(cache_key, matches);
                matches
            }
        };
        known_user && matches
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
        None => true,
        Some(auth) => match basic_credentials(&request) {
            Some((user, password)) => auth.allows(&user, &password).await,
            None => false,
        },
    };
    let mut response = if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"))],
            "Unauthorized\n",
        )
            .into_response()
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
