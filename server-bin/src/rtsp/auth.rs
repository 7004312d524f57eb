//! `[rtsp.auth]`: per-app credentials for RTSP publish and play, checked
//! with Basic or Digest (RFC 2617/7616, MD5) once per connection, app and
//! action. The hooks and tokens of the other protocols apply as well.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use rtsp_proto::signal::{derive_nonce, AuthError, Authenticator, Credentials, Request, Response};

use crate::config::RtspCredentials;

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// ANNOUNCE / RECORD.
    Publish,
    /// DESCRIBE / PLAY.
    Play,
}

/// The authentication state of one connection.
#[derive(Debug)]
pub struct AuthState {
    nonce: String,
    granted: HashSet<(String, Action)>,
}

impl AuthState {
    /// A state with this connection's nonce (random per process and connection).
    pub fn new(session_id: u64) -> AuthState {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(session_id);
        AuthState {
            nonce: derive_nonce(&h.finish().to_le_bytes(), session_id),
            granted: HashSet::new(),
        }
    }

    /// Checks `request` for `action` on `app`. `Err` carries the 401 answer.
    pub fn check(
        &mut self,
        rules: &std::collections::BTreeMap<String, RtspCredentials>,
        request: Option<&Request>,
        app: &str,
        action: Action,
    ) -> Result<(), Response> {
        let Some(rule) = rules.get(app) else {
            return Ok(());
        };
        let required = match action {
            Action::Publish => rule.publish,
            Action::Play => rule.play,
        };
        if !required || self.granted.contains(&(app.to_string(), action)) {
            return Ok(());
        }
        let auth = Authenticator::new(
            "strom",
            vec![Credentials {
                user: rule.user.clone(),
                password: rule.password.clone(),
            }],
        );
        match request.map(|r| auth.check(r, &self.nonce)) {
            Some(Ok(_)) => {
                self.granted.insert((app.to_string(), action));
                Ok(())
            }
            Some(Err(AuthError::Missing)) | None => Err(auth.unauthorized(&self.nonce, false)),
            Some(Err(e)) => {
                tracing::warn!(%app, ?action, error = %e, "rtsp authentication failed");
                Err(auth.unauthorized(&self.nonce, e == AuthError::StaleNonce))
            }
        }
    }
}
