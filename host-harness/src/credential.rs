//! Who calls Gladly and with what: the [`Connection`], who holds the token
//! during a call ([`CredentialMode`]), and the host's completion of a
//! placeholder credential on the way out ([`Completion`]).

use std::fmt;

use crate::agents::{Error, InvalidInputInfo};
use crate::bindings::exports::gladly::provisioning::agents as generated;

/// Where and as whom to call Gladly. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub org_url: String,
    pub api_user: String,
    pub api_token: String,
}

impl Connection {
    pub fn new(
        org_url: impl Into<String>,
        api_user: impl Into<String>,
        api_token: impl Into<String>,
    ) -> Self {
        Self {
            org_url: org_url.into(),
            api_user: api_user.into(),
            api_token: api_token.into(),
        }
    }

    /// The connection the component is given, and what the host must swap
    /// into its requests: with [`CredentialMode::HostCompleted`] the token
    /// stays here and the component gets a fresh placeholder.
    pub(crate) fn to_wit(
        &self,
        mode: CredentialMode,
    ) -> (generated::Connection, Option<Completion>) {
        let (credential, completion) = match mode {
            CredentialMode::InComponent => {
                (generated::Credential::Token(self.api_token.clone()), None)
            }
            CredentialMode::HostCompleted => {
                let completion = Completion::new(&self.api_user, &self.api_token);
                let placeholder = completion.placeholder.clone();
                (
                    generated::Credential::HostCompleted(placeholder),
                    Some(completion),
                )
            }
        };
        let conn = generated::Connection {
            org_url: self.org_url.clone(),
            api_user: self.api_user.clone(),
            credential,
        };
        (conn, completion)
    }

    /// What is wrong with the token, checked as the component checks it
    /// (never quoting it), for when the host holds it.
    pub(crate) fn token_error(&self) -> Option<Error> {
        let problem = if self.api_token.is_empty() {
            "is empty"
        } else if self
            .api_token
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            "contains white space or control characters; copy the token again"
        } else {
            return None;
        };
        Some(Error::InvalidInput(InvalidInputInfo {
            field: "connection.credential.token".into(),
            message: problem.into(),
        }))
    }

    /// `scheme://authority` of the org URL, normalised the way outgoing
    /// requests are compared against it; `None` when it does not parse (the
    /// component then refuses the call before sending anything).
    /// Plain `http://` is allowed only to a loopback host (the component's
    /// own rule, `gladly_connector::validate::is_loopback_host`), checked here
    /// again so that a component that ignores it still cannot make the host
    /// send the completed credential across the network in clear.
    pub(crate) fn allowed_origin(&self) -> Option<(String, String)> {
        let uri: http::Uri = self.org_url.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        match scheme.as_str() {
            "https" => {}
            "http" if gladly_connector::validate::is_loopback_host(uri.host()?) => {}
            _ => return None,
        }
        let authority = normalise_authority(&scheme, uri.authority()?.as_str());
        Some((scheme, authority))
    }
}

pub(crate) fn normalise_authority(scheme: &str, authority: &str) -> String {
    let a = authority.to_ascii_lowercase();
    match (scheme, a.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_string(),
        _ => a,
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("org_url", &self.org_url)
            .field("api_user", &self.api_user)
            .field("api_token", &"<redacted>")
            .finish()
    }
}

/// The sandbox's credentials, to call it with. The sandbox is not part of
/// this library:
/// ```compile_fail
/// use gladly_harness::sandbox::Sandbox; // the sandbox is `gladly_sandbox::Sandbox`
/// ```
impl From<gladly_sandbox::Credentials> for Connection {
    fn from(c: gladly_sandbox::Credentials) -> Self {
        Self::new(c.org_url, c.api_user, c.api_token)
    }
}

/// Who holds the API token during a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CredentialMode {
    /// The host: the component is given a fresh placeholder per call and
    /// sends `Authorization: Basic <placeholder>`; the host replaces it by
    /// `base64(api-user:token)` on the way out, only in requests to the
    /// org's origin (the only origin it lets the component reach anyway).
    /// The token is never in the component's memory.
    #[default]
    HostCompleted,
    /// The component: it is given the token (WIT `credential::token`).
    InComponent,
}

/// The placeholder of one call and the header value it stands for.
#[derive(Clone)]
pub(crate) struct Completion {
    pub(crate) placeholder: String,
    pub(crate) basic: String,
}

impl Completion {
    pub(crate) fn new(api_user: &str, api_token: &str) -> Self {
        use base64::Engine as _;
        let mut random = [0u8; 16];
        // Without randomness a fixed placeholder would still be swapped only
        // towards the org; unpredictability is a second line, not the first.
        let _ = getrandom::fill(&mut random);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{api_token}", api_user.trim()));
        Self {
            placeholder: format!("GLADLY_HOST_CREDENTIAL_{hex}"),
            basic,
        }
    }

    /// Replaces the placeholder in every header value, as Obelisk does.
    pub(crate) fn complete(&self, headers: &mut http::HeaderMap) {
        for value in headers.values_mut() {
            let Ok(text) = value.to_str() else { continue };
            if text.contains(&self.placeholder) {
                let done = text.replace(&self.placeholder, &self.basic);
                if let Ok(done) = http::HeaderValue::from_str(&done) {
                    *value = done;
                }
            }
        }
    }
}
