//! Finds a credential in text, in every form a server or a proxy might echo
//! it, and removes it. One implementation, compiled into the component and
//! used by the host (`host-harness/src/scrub.rs` and the SCIM gateway's
//! server call `gladly_connector::scrub`): it needs only `std` and `base64`.
//!
//! Given the secrets (the token and `api-user:token`), the echo forms are:
//! each secret as it is; its base64, standard and URL-safe, padded and
//! unpadded (whatever precedes it, `Basic `, `basic `, `BASIC ` or nothing,
//! is left: without the base64 it says nothing); and the base64 of a secret
//! embedded at any offset of a longer base64 string (the characters that
//! depend on the secret alone). Each form is matched character by character
//! in any mix of the escapes a server writes text in: as is, percent-encoded
//! (`%3A`, `%3a`, UTF-8 bytes), JSON-escaped (`\u003a`, `\/`, `\\`,
//! `\"`), or as an HTML character reference (`&#58;`, `&#x3a;`, `&colon;`:
//! a proxy's HTML page). A form cut short (an echo a server or proxy truncated) is removed
//! too once [`PARTIAL`] characters of it are there, and so is any run of
//! [`PARTIAL`] characters from inside the token or its base64 (an echo whose
//! front was masked or cut off).
//!
//! When the token is unknown (the host completes the credential; under
//! Obelisk nobody else scrubs), what can be known is removed: the API user
//! followed by `:` and whatever follows it, the base64 that begins with the
//! API user's `user:` in any alignment or alphabet, and any base64 after
//! `basic ` (any case) that decodes to `something:secret`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// What replaces a credential.
pub const REDACTED: &str = "<redacted>";
/// A form cut short is removed from this many of its characters on: fewer
/// give too little away to matter (and would match ordinary words).
pub const PARTIAL: usize = 8;

/// The credentials of one call, ready to be scrubbed from text.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Whole forms of a known secret, longest first.
    forms: Vec<Form>,
    /// Known beginnings (`user:` and its base64): the form and whatever
    /// credential-like run follows it is removed.
    leads: Vec<Form>,
    /// The first characters of the forms and leads: elsewhere nothing can
    /// begin (the host scrubs every field of long agent lists).
    starts: Vec<char>,
    /// Every run of [`PARTIAL`] characters inside a form of a known secret
    /// (as it is, not escaped), and where in which form it stands: an echo
    /// that begins in the middle of a secret (a masked head, a proxy that
    /// cut the front off, an escape the matcher does not read) still leaves
    /// such a run, and the run is removed with as much of the form around it
    /// as follows.
    pieces: std::collections::HashMap<[char; PARTIAL], Vec<(usize, usize)>>,
    /// Whether text from outside (a server's words) is left out of errors
    /// rather than quoted scrubbed (see [`crate::client::SERVER_TEXT_VAR`]).
    omit_outside: bool,
    /// Whether the token is known here (not when the host completes it).
    token_known: bool,
}

#[derive(Clone)]
struct Form {
    chars: Vec<char>,
    /// How many of its first characters depend on nothing secret (the API
    /// user's `user:`, or its base64): a form cut short is removed only
    /// once [`PARTIAL`] characters beyond them match, and only runs of
    /// characters beyond them are pieces. Were those public characters to
    /// count, text that a client sends and an error quotes back (a SCIM
    /// filter) would be scrubbed differently as its next character guessed
    /// the token right or wrong, and the token could be found a character
    /// at a time.
    known: usize,
    /// A match of at least this many characters of the form, cut short by
    /// the end of the text or by a character that differs, is removed. Not
    /// read for a lead: a lead counts only whole.
    min: usize,
    /// What may follow a lead (the rest of a secret); for a form of
    /// [`PARTIAL`] characters or more, what else of the run it stands in
    /// is removed with it: how much is removed then depends on the text
    /// alone, not on how far it matched (nor, so, on a guess).
    run: Run,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    /// Not a lead.
    None,
    /// Up to white space, a quote or an escape.
    Text,
    /// Base64 characters, either alphabet, with padding.
    Base64,
}

impl Secrets {
    /// The secrets of a call whose token is known: `token` and
    /// `api_user:token`, in every echo form.
    pub fn new(api_user: &str, token: &str) -> Self {
        let user = api_user.trim();
        let pair = format!("{user}:{token}");
        let mut s = Self::for_user(user);
        if !token.is_empty() {
            s.token_known = true;
            s.add_secret(token, 0);
            // Cut short before eight characters of the token, `user:token`
            // is the API user's lead, whose run is removed whatever it holds.
            s.add_secret(&pair, user.len() + 1);
        }
        s.sort();
        s
    }

    /// The secrets of a call whose token is not known here (the host
    /// completes the credential): the API user's `user:` prefix, and
    /// `others` (e.g. the placeholder) as they are.
    pub fn user_only(api_user: &str, others: &[&str]) -> Self {
        let mut s = Self::for_user(api_user.trim());
        for o in others.iter().filter(|o| !o.is_empty()) {
            s.forms.push(Form::whole(o));
        }
        s.sort();
        s
    }

    fn for_user(user: &str) -> Self {
        let mut s = Self::default();
        if user.is_empty() {
            return s;
        }
        let lead = format!("{user}:");
        s.leads.push(Form {
            run: Run::Text,
            ..Form::whole(&lead)
        });
        // Its base64, and the base64 of that (a dump of the request's
        // headers, base64-encoded, holds the header's base64): only the
        // characters that depend on `user:` alone.
        let header = STANDARD.encode(lead.as_bytes());
        let header_lead = &header[..lead.len() * 8 / 6];
        let cores = base64_cores(lead.as_bytes(), lead.len())
            .into_iter()
            .chain(base64_cores(header_lead.as_bytes(), header_lead.len()));
        for (core, _) in cores {
            // A short user gives a core too short to be told from chance.
            if core.len() >= PARTIAL {
                s.leads.push(Form {
                    run: Run::Base64,
                    ..Form::whole(&core)
                });
            }
        }
        s
    }

    /// A secret whose first `known` bytes are public (the API user's
    /// `user:`), in every echo form: as it is; its base64, whole and at any
    /// offset inside a longer base64 string; and the base64 of its standard
    /// base64 (an `Authorization` header in a base64-encoded dump).
    fn add_secret(&mut self, secret: &str, known: usize) {
        self.push_secret_form(secret, secret[..known].chars().count(), Run::Text);
        let bytes = secret.as_bytes();
        let whole = known * 8 / 6;
        for encoded in [
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
        ] {
            self.push_secret_form(&encoded, whole, Run::Base64);
        }
        let header = STANDARD.encode(bytes);
        let cores = base64_cores(bytes, known)
            .into_iter()
            .chain(base64_cores(header.as_bytes(), whole));
        for (core, known) in cores {
            // A core too short is chance, not an echo.
            if core.len() >= PARTIAL {
                self.push_secret_form(&core, known, Run::Base64);
            }
        }
    }

    /// A form whose first `known` characters are public: removed whole, or
    /// cut short once [`PARTIAL`] characters beyond them match.
    fn push_secret_form(&mut self, text: &str, known: usize, run: Run) {
        let form = Form::whole(text);
        self.forms.push(Form {
            known,
            min: (known + PARTIAL).min(form.chars.len()),
            run,
            ..form
        });
    }

    fn sort(&mut self) {
        self.forms.retain(|f| !f.chars.is_empty());
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.chars.len()));
        self.forms.dedup_by(|a, b| a.chars == b.chars);
        self.starts = self
            .forms
            .iter()
            .chain(&self.leads)
            .filter_map(|f| f.chars.first())
            .flat_map(|c| [c.to_ascii_lowercase(), c.to_ascii_uppercase()])
            .collect();
        self.starts.sort_unstable();
        self.starts.dedup();
        self.pieces.clear();
        // Only runs of a secret's forms (not of a form matched only whole,
        // such as the placeholder the host completes, whose runs are words
        // like `credenti`), and only runs every character of which depends
        // on the secret: the public front of a form (the API user's
        // e-mail, or its base64) is no secret, must stay readable, and must
        // not let a guess at the next character show.
        for (f, form) in self
            .forms
            .iter()
            .enumerate()
            .filter(|(_, f)| f.run != Run::None)
        {
            for (offset, window) in form.chars.windows(PARTIAL).enumerate() {
                if offset < form.known {
                    continue;
                }
                self.pieces
                    .entry(folded(window))
                    .or_default()
                    .push((f, offset));
            }
        }
    }

    /// Where a piece of a form that `text[at..]` begins with ends: a run of
    /// at least [`PARTIAL`] characters found inside a form, extended as far
    /// as the form goes on, and the rest of the run it stands in.
    fn piece_at(&self, text: &[char], at: usize) -> Option<usize> {
        if self.pieces.is_empty() {
            return None;
        }
        // Read as is, and through escapes as whole forms are: a tail of
        // the token echoed JSON-escaped (`3n\/s3cr3t`) or percent-encoded
        // (`3n%2Fs3cr3t`) is a piece too (it was left whole: helper-45).
        let raw = text.get(at..at + PARTIAL).map(folded);
        let decoded = {
            let mut key = [' '; PARTIAL];
            let mut i = at;
            key.iter_mut()
                .try_for_each(|k| {
                    let (c, used) = escaped(text, i)?;
                    *k = c.to_ascii_lowercase();
                    i += used;
                    Some(())
                })
                .map(|()| key)
        };
        [raw, decoded.filter(|d| Some(*d) != raw)]
            .into_iter()
            .flatten()
            .filter_map(|key| self.pieces.get(&key))
            .flatten()
            .map(|&(f, offset)| {
                let form = &self.forms[f];
                let mut end = at;
                for &want in &form.chars[offset..] {
                    match one_char(text, end, want) {
                        Some(used) => end += used,
                        None => break,
                    }
                }
                form.run.extend(text, end)
            })
            .max()
    }

    /// How far beyond a cut an echo that reaches the cut can go: scrub this
    /// much more than is kept.
    pub fn reach(&self) -> usize {
        let longest = self
            .forms
            .iter()
            .chain(&self.leads)
            .map(|f| f.chars.len())
            .max()
            .unwrap_or(0);
        // Up to ten characters per escaped one (`\u0041`, `&#0000065;`).
        longest.saturating_mul(10).max(256)
    }

    /// These secrets, for a caller whose errors leave out text from
    /// outside instead of quoting it scrubbed.
    pub fn omitting_outside_text(self) -> Self {
        Self {
            omit_outside: true,
            ..self
        }
    }

    /// Whether errors leave out text from outside (a server's words).
    pub fn omits_outside_text(&self) -> bool {
        self.omit_outside
    }

    /// Whether the token itself is known here, so that its every form can
    /// be found (not where the host completes the credential).
    pub fn knows_token(&self) -> bool {
        self.token_known
    }

    /// Removes every form of the secrets from `text`, which came from
    /// outside (a server's answer): nothing in it is the connector's own.
    pub fn scrub(&self, text: &str) -> String {
        self.scrub_with(text, false, false)
    }

    /// As [`Secrets::scrub`], for text that may hold the connector's own
    /// words (or where it cannot be told): a form shorter than [`PARTIAL`]
    /// (a toy token such as `t`) is removed only where it stands alone, so
    /// that the words around it stay readable.
    pub fn scrub_words(&self, text: &str) -> String {
        self.scrub_with(text, true, false)
    }

    /// As [`Secrets::scrub_words`], removing a secret's forms only whole
    /// (and what can be told by its shape alone: a `Basic` credential, the
    /// API user's `user:` and what follows), never a piece or a form cut
    /// short. For text a third party may have written and reads back (a
    /// SCIM client's filter quoted in the answer, a name it stored): were
    /// pieces removed there, which of its own strings came back removed
    /// would tell it which are pieces of the token, and the token could be
    /// found from them. Such text must hold no server words (see
    /// [`Secrets::omitting_outside_text`]), where pieces could be.
    pub fn scrub_whole(&self, text: &str) -> String {
        self.scrub_with(text, true, true)
    }

    fn scrub_with(&self, text: &str, words: bool, whole_only: bool) -> String {
        let chars: Vec<char> = text.chars().collect();
        let redacted: Vec<char> = REDACTED.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        'scan: while i < chars.len() {
            // An escape, a marker, `basic`, or the start of a form.
            let may_start = |c: char| {
                matches!(c, '%' | '\\' | '&' | '<' | 'b' | 'B')
                    || self.starts.binary_search(&c).is_ok()
            };
            if let Some(end) = self.piece_at(&chars, i).filter(|_| !whole_only) {
                out.push_str(REDACTED);
                i = end;
                continue;
            }
            if !may_start(chars[i]) {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            // A marker already written stays whole: scrubbing twice changes
            // nothing, and a short token never mangles a marker.
            if chars[i..].starts_with(&redacted) {
                out.push_str(REDACTED);
                i += redacted.len();
                continue;
            }
            let edge = |c: Option<&char>| c.is_none_or(|c| !c.is_alphanumeric());
            let starts_word = edge(i.checked_sub(1).and_then(|p| chars.get(p)));
            let alone = |end: usize| starts_word && edge(chars.get(end));
            for form in &self.forms {
                let (len, matched) = form.match_at(&chars, i);
                let whole = matched == form.chars.len();
                let short = form.chars.len() < PARTIAL;
                let cut_short = !whole_only && matched >= form.min;
                if (whole || cut_short) && (!words || !short || alone(i + len)) {
                    out.push_str(REDACTED);
                    i = if short {
                        i + len
                    } else {
                        form.run.extend(&chars, i + len)
                    };
                    continue 'scan;
                }
            }
            for lead in &self.leads {
                let (len, matched) = lead.match_at(&chars, i);
                // A short user (`u:`) counts only where a word starts.
                let short = lead.chars.len() < PARTIAL;
                if matched == lead.chars.len() && (starts_word || !short) {
                    let end = lead.run.extend(&chars, i + len);
                    if lead.run == Run::Text {
                        // `user:` itself is no secret: keep it, so the
                        // reader sees whose credential was echoed.
                        out.extend(&chars[i..i + len]);
                        if end > i + len {
                            out.push_str(REDACTED);
                        }
                    } else {
                        out.push_str(REDACTED);
                    }
                    i = end;
                    continue 'scan;
                }
            }
            if let Some((from, end)) = basic_credential(&chars, i) {
                // `Basic ` itself stays: the reader sees what was echoed.
                out.extend(&chars[i..from]);
                out.push_str(REDACTED);
                i = end;
                continue;
            }
            out.push(chars[i]);
            i += 1;
        }
        out
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

/// The first `max` characters of `text` (on a character boundary), with `…`
/// when something was left out. Cut only text already scrubbed: a
/// credential cut in two is no longer recognisable as one. A run of
/// credential-like characters (letters, digits, and those of base64,
/// escapes and URLs) that the cut goes through is left out whole: where the
/// token is not known here (the host completes the credential, and scrubs
/// after), a token the cut went through would otherwise leave fewer than
/// [`PARTIAL`] of its characters, too few for the host to find.
pub fn cut(text: &str, max: usize) -> String {
    cut_where(text, max, false)
}

/// As [`cut`], for text that was itself cut from a longer one (at an end
/// not known to fall between runs): a run it ends in is left out too.
pub fn cut_open(text: &str, max: usize) -> String {
    cut_where(text, max, true)
}

fn cut_where(text: &str, max: usize, open: bool) -> String {
    let run = |c: char| c.is_alphanumeric() || "+/=-_.~%\\".contains(c);
    let (kept, through_run) = match text.char_indices().nth(max) {
        Some((at, next)) => (&text[..at], run(next)),
        None if open => (text, true),
        None => return text.to_string(),
    };
    let kept = if through_run {
        kept.trim_end_matches(run)
    } else {
        kept
    };
    format!("{kept}…")
}

impl Form {
    fn whole(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        Self {
            known: 0,
            min: chars.len(),
            chars,
            run: Run::None,
        }
    }

    /// How far the form matches at `start`: the characters of `text` used
    /// and of the form matched (each form character as is, percent-encoded
    /// or JSON-escaped).
    fn match_at(&self, text: &[char], start: usize) -> (usize, usize) {
        let mut at = start;
        for (n, &want) in self.chars.iter().enumerate() {
            match one_char(text, at, want) {
                Some(used) => at += used,
                None => return (at - start, n),
            }
        }
        (at - start, self.chars.len())
    }
}

impl Run {
    /// Where the run that follows a lead ends.
    fn extend(self, text: &[char], from: usize) -> usize {
        let mut at = from;
        while let Some((c, used)) = escaped(text, at) {
            let goes_on = match self {
                Run::None => false,
                Run::Text => {
                    !c.is_whitespace() && !matches!(c, '"' | '\'' | '`' | '<' | '>' | ',' | '…')
                }
                Run::Base64 => is_base64(c),
            };
            if !goes_on {
                break;
            }
            at += used;
        }
        at
    }
}

/// The character at `text[at..]`, read through a JSON escape or a
/// percent-encoded ASCII byte, and the characters it takes.
fn escaped(text: &[char], at: usize) -> Option<(char, usize)> {
    let c = *text.get(at)?;
    let hex = |from: usize, len: usize| -> Option<u32> {
        let digits: String = text.get(from..from + len)?.iter().collect();
        u32::from_str_radix(&digits, 16).ok()
    };
    let decoded = match (c, text.get(at + 1)) {
        ('\\', Some('u')) => hex(at + 2, 4).and_then(char::from_u32).map(|c| (c, 6)),
        ('\\', Some(&e @ ('/' | '\\' | '"'))) => Some((e, 2)),
        ('%', _) => hex(at + 1, 2)
            .filter(|b| *b < 0x80)
            .and_then(char::from_u32)
            .map(|c| (c, 3)),
        ('&', _) => html_reference(text, at),
        _ => None,
    };
    Some(decoded.unwrap_or((c, 1)))
}

/// The names an HTML encoder may write for ASCII punctuation (HTML5's
/// named character references of these characters).
const HTML_NAMES: &[(&str, char)] = &[
    ("amp", '&'),
    ("AMP", '&'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("apos", '\''),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
    ("colon", ':'),
    ("commat", '@'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("equals", '='),
    ("plus", '+'),
    ("lowbar", '_'),
    ("UnderBar", '_'),
    ("period", '.'),
    ("comma", ','),
    ("semi", ';'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("ast", '*'),
    ("lpar", '('),
    ("rpar", ')'),
    ("quest", '?'),
    ("Hat", '^'),
    ("grave", '`'),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("verbar", '|'),
    ("tilde", '~'),
];

/// An HTML character reference at `text[at..]`, as a proxy's or a portal's
/// HTML page writes what it shows (`&#115;`, `&#x2d;`, `&colon;`), and the
/// characters it takes. The closing `;` is required: without it, an
/// ampersand is read as itself.
fn html_reference(text: &[char], at: usize) -> Option<(char, usize)> {
    if text.get(at) != Some(&'&') {
        return None;
    }
    // The longest: `&#` and seven decimal digits, and `;`.
    let end = (at + 1..text.len().min(at + 11)).find(|&i| text[i] == ';')?;
    let inner: String = text[at + 1..end].iter().collect();
    let code = match inner.strip_prefix('#') {
        Some(num) => match num.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            Some(_) => None,
            None if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => num.parse().ok(),
            None => None,
        },
        None => HTML_NAMES
            .iter()
            .find(|(name, _)| *name == inner)
            .map(|(_, c)| *c as u32),
    };
    char::from_u32(code?).map(|c| (c, end + 1 - at))
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=')
}

/// Matches one character `want` at `text[at..]`: as is, JSON-escaped or
/// percent-encoded; the characters of `text` it takes.
fn one_char(text: &[char], at: usize, want: char) -> Option<usize> {
    let hex = |from: usize, len: usize| -> Option<u32> {
        let digits: String = text.get(from..from + len)?.iter().collect();
        u32::from_str_radix(&digits, 16).ok()
    };
    // Letters in either case: a server may upper- or lower-case what it
    // echoes.
    let same = |c: u32| char::from_u32(c).is_some_and(|c| c.eq_ignore_ascii_case(&want));
    let json = || match text.get(at + 1)? {
        'u' => same(hex(at + 2, 4)?).then_some(6),
        e @ ('/' | '\\' | '"') => (*e == want).then_some(2),
        _ => None,
    };
    let percent = || {
        let mut buf = [0u8; 4];
        let mut used = 0;
        for &b in want.encode_utf8(&mut buf).as_bytes() {
            let ok = text.get(at + used) == Some(&'%')
                && hex(at + used + 1, 2)?
                    .try_into()
                    .is_ok_and(|got: u8| got.eq_ignore_ascii_case(&b));
            if !ok {
                return None;
            }
            used += 3;
        }
        Some(used)
    };
    let html = || {
        html_reference(text, at)
            .filter(|(c, _)| c.eq_ignore_ascii_case(&want))
            .map(|(_, used)| used)
    };
    match text.get(at)? {
        '\\' => json(),
        '%' => percent(),
        '&' => html(),
        _ => None,
    }
    .or_else(|| text[at].eq_ignore_ascii_case(&want).then_some(1))
}

/// A run of [`PARTIAL`] characters, letters in lower case (pieces are
/// found in either case).
fn folded(window: &[char]) -> [char; PARTIAL] {
    let mut key = [' '; PARTIAL];
    for (k, c) in key.iter_mut().zip(window) {
        *k = c.to_ascii_lowercase();
    }
    key
}

/// The characters of the base64 of `secret` that depend on it alone, for
/// each offset (0, 1, 2 bytes) at which it may sit inside a longer base64
/// string, in both alphabets: a server that base64-encodes a dump holding
/// the credential writes one of these. With each, how many of its first
/// characters depend on the first `known` bytes alone (public ones).
fn base64_cores(secret: &[u8], known: usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for k in 0..3usize {
        let mut bytes = vec![0u8; k];
        bytes.extend_from_slice(secret);
        let start = (8 * k).div_ceil(6);
        let end = 8 * (k + secret.len()) / 6;
        if end <= start {
            continue;
        }
        let public = (8 * (k + known) / 6).saturating_sub(start);
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            out.push((engine.encode(&bytes)[start..end].to_string(), public));
        }
    }
    out
}

/// A base64 credential after `basic ` (any case, as an `Authorization`
/// header is echoed): where the credential begins and ends, when it decodes,
/// in either alphabet, padded or not, whole or cut short, to something with
/// a `:` in it. Words (`Basic auth`) decode to nothing of the kind and are
/// left alone.
fn basic_credential(text: &[char], at: usize) -> Option<(usize, usize)> {
    const BASIC: &str = "basic";
    let word: String = text.get(at..at + BASIC.len())?.iter().collect();
    let after_word = at
        .checked_sub(1)
        .and_then(|p| text.get(p))
        .is_some_and(|c| c.is_alphanumeric());
    if !word.eq_ignore_ascii_case(BASIC) || after_word {
        return None;
    }
    let from = at + BASIC.len();
    let spaces = text[from..]
        .iter()
        .take_while(|c| **c == ' ' || **c == '\t')
        .count();
    if spaces == 0 {
        return None;
    }
    let from = from + spaces;
    let end = Run::Base64.extend(text, from);
    let mut candidate = String::new();
    let mut i = from;
    while i < end {
        // Escaped `+`, `/` and `=` read as themselves.
        let (c, used) = escaped(text, i).unwrap_or((text[i], 1));
        candidate.push(c);
        i += used;
    }
    let trimmed = candidate.trim_end_matches('=');
    let whole_groups = &trimmed[..trimmed.len() / 4 * 4];
    let is_pair = [STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .flat_map(|e| [e.decode(trimmed).ok(), e.decode(whole_groups).ok()])
        .flatten()
        .any(|pair| pair.contains(&b':'));
    is_pair.then_some((from, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_from_the_middle_of_a_secret_is_removed() {
        // Echoes that begin inside the secret: a masked head, a proxy that
        // cut the front off, an escape the matcher does not read (an HTML
        // entity). Whatever of the secret is left, from 8 characters on.
        let s = Secrets::new("admin@acme.example", "sandbox-admin-token");
        let b64 = STANDARD.encode("admin@acme.example:sandbox-admin-token");
        for (echo, leaked) in [
            ("token ****box-admin-token end", "box-admin-token"),
            ("denied sandbox&#45;admin-token", "admin-token"),
            ("tail: x-admin-to", "-admin-to"),
        ] {
            let got = s.scrub(echo);
            assert!(!got.contains(leaked), "{echo:?} leaked {leaked:?}: {got}");
        }
        let tail = &b64[b64.len() - 12..];
        let got = s.scrub(&format!("cut {tail} here"));
        assert!(!got.contains(tail), "a base64 tail leaked: {got}");
        // The API user's e-mail alone is no secret: it stays readable.
        assert_eq!(
            s.scrub_words("agent admin@acme.example is the API user"),
            "agent admin@acme.example is the API user"
        );
    }

    #[test]
    fn every_echo_form_of_the_token_is_removed() {
        let s = Secrets::new("api@acme.com", "t0k3n/s3cr3t+x");
        let pair = "api@acme.com:t0k3n/s3cr3t+x";
        let forms = [
            "t0k3n/s3cr3t+x".to_string(),
            pair.to_string(),
            STANDARD.encode(pair),
            STANDARD_NO_PAD.encode(pair),
            URL_SAFE.encode(pair),
            URL_SAFE_NO_PAD.encode(pair),
            format!("basic {}", URL_SAFE.encode(pair)),
            "t0k3n\\/s3cr3t+x".to_string(),
            "\\u0074\\u0030k3n/s3cr3t+x".to_string(),
            "t0k3n%2Fs3cr3t%2bx".to_string(),
            "api%40acme.com%3At0k3n%2Fs3cr3t%2Bx".to_string(),
        ];
        for f in forms {
            let got = s.scrub(&format!("before {f} after"));
            assert!(
                got.starts_with("before ") && got.ends_with(" after") && got.contains(REDACTED),
                "expected {f} redacted, got {got}"
            );
            assert!(
                !got.contains("s3cr3t") && !got.contains("czNjcjN0"),
                "{got}"
            );
        }
    }

    #[test]
    fn a_basic_credential_is_redacted_by_its_shape_when_the_token_is_unknown() {
        // base64("api:real-token"), and base64("u:t"), the shortest.
        let s = Secrets::user_only("someone-else@x.io", &[]);
        let got = s.scrub(
            "denied: Basic YXBpOnJlYWwtdG9rZW4= (bad); basic dTp0, BASIC YXBpOnJlYWwtdG9r, Basic auth, Basic authentication",
        );
        assert_eq!(
            got,
            "denied: Basic <redacted> (bad); basic <redacted>, BASIC <redacted>, Basic auth, Basic authentication"
        );
    }

    #[test]
    fn the_known_user_finds_its_credential_in_any_alignment() {
        let s = Secrets::user_only("api@acme.com", &[]);
        let pair = "api@acme.com:secret/token";
        for text in [
            format!("echo {pair} end"),
            format!("echo {} end", URL_SAFE_NO_PAD.encode(pair)),
            format!("echo {} end", STANDARD.encode(format!("x{pair}"))),
            format!("echo {} end", STANDARD.encode(format!("xy{pair}"))),
            "echo api%40acme.com%3Asecret%2Ftoken end".to_string(),
            "echo \\u0061pi@acme.com:\\u0073ecret\\/token end".to_string(),
        ] {
            let got = s.scrub(&text);
            assert!(
                !got.contains("secret") && !got.contains("c2VjcmV0") && got.ends_with(" end"),
                "{text} gave {got}"
            );
        }
    }

    #[test]
    fn a_one_letter_token_leaves_words_readable() {
        let s = Secrets::new("u", "t");
        assert_eq!(
            s.scrub("Authorization: Basic dTp0, token t"),
            "Au<redacted>horiza<redacted>ion: Basic <redacted>, <redacted>oken <redacted>",
            "server text loses every t"
        );
        let words = "GET /api/v1/teams got no answer: Basic dTp0, token t";
        let once = s.scrub_words(words);
        assert_eq!(
            once,
            "GET /api/v1/teams got no answer: Basic <redacted>, token <redacted>"
        );
        // Scrubbing again changes nothing: a marker is never searched.
        assert_eq!(s.scrub_words(&once), once);
        assert_eq!(s.scrub(&s.scrub("t t")), "<redacted> <redacted>");
    }

    #[test]
    fn a_form_cut_short_is_removed_from_its_eighth_character() {
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        let b64 = STANDARD.encode("api@acme.com:t0k3n-s3cr3t");
        // Its first 17 characters are the base64 of `api@acme.com:`, the
        // API user's lead: in part they are no secret, whole they take
        // what follows.
        assert_eq!(
            s.scrub(&format!("x {}", &b64[..16])),
            format!("x {}", &b64[..16])
        );
        assert_eq!(s.scrub(&format!("x {}", &b64[..18])), "x <redacted>");
        assert_eq!(s.scrub("x t0k3n-s3…"), "x <redacted>…");
        assert_eq!(s.scrub("x t0k3n-s…"), "x t0k3n-s…");
        // The user alone is no secret.
        assert_eq!(s.scrub("api@acme.com: hi"), "api@acme.com: hi");
    }

    #[test]
    fn a_cut_leaves_out_the_run_it_goes_through() {
        assert_eq!(cut("abcd", 4), "abcd");
        assert_eq!(cut("ab, cd", 3), "ab,…");
        assert_eq!(cut("abcd efgh", 6), "abcd …");
        assert_eq!(cut("abcdé", 4), "…");
        // A token the cut goes through (the host, which knows it, scrubs
        // after the component cut): none of it is left, not the seven
        // characters too few for the host to find.
        assert_eq!(cut("denied: sandbox-admin-token, retry", 15), "denied: …");
        assert_eq!(cut("key=dG9rZW4%2Btb2s=", 12), "…");
        // Text already cut from a longer one ends in a cut too.
        assert_eq!(cut_open("denied: sandbox-adm", 200), "denied: …");
        assert_eq!(cut_open("denied: x, ", 200), "denied: x, …");
    }

    /// Every public prefix of `secret` (its first `public` characters on)
    /// with each of its next `guessed` characters guessed right and then
    /// wrong: the two scrub alike (the guess shows nothing).
    fn guesses_scrub_alike(s: &Secrets, secret: &str, public: usize, guessed: usize) {
        let chars: Vec<char> = secret.chars().collect();
        for len in public + 1..=(public + guessed).min(chars.len()) {
            let right: String = chars[..len].iter().collect();
            let wrong_char = if chars[len - 1].eq_ignore_ascii_case(&'q') {
                'z'
            } else {
                'q'
            };
            let wrong: String = chars[..len - 1].iter().chain([&wrong_char]).collect();
            for (before, after) in [("", ""), ("filter: `", "` is not"), ("x=", "&y")] {
                let (r, w) = (
                    s.scrub(&format!("{before}{right}{after}")),
                    s.scrub(&format!("{before}{wrong}{after}")),
                );
                assert_eq!(
                    r, w,
                    "a guess at character {len} of {secret} shows: {r} against {w}"
                );
            }
        }
    }

    #[test]
    fn a_guess_at_the_next_character_of_the_token_changes_nothing() {
        // A client that sends `api-user:` and a guess, which an error
        // quotes back (a SCIM filter), must not learn from what is
        // removed whether it guessed right: seven characters of the
        // token, guessed one at a time, as it is and in its base64 at
        // each offset, in both modes.
        let (user, token) = ("admin@acme.example", "sandbox-admin-token");
        let pair = format!("{user}:{token}");
        for s in [Secrets::new(user, token), Secrets::user_only(user, &[])] {
            guesses_scrub_alike(&s, &pair, user.len() + 1, 7);
            for k in 0..3 {
                let padded = format!("{}{pair}", "x".repeat(k));
                for b64 in [STANDARD.encode(&padded), URL_SAFE_NO_PAD.encode(&padded)] {
                    let public = (k + user.len() + 1) * 8 / 6;
                    guesses_scrub_alike(&s, &b64, public, 7);
                }
                let header = format!("{}{}", "x".repeat(k), STANDARD.encode(&pair));
                let public = (k + (user.len() + 1) * 8 / 6) * 8 / 6;
                guesses_scrub_alike(&s, &STANDARD.encode(&header), public, 7);
            }
        }
    }

    #[test]
    fn scrubbing_only_whole_forms_shows_nothing_of_which_strings_are_pieces() {
        // A SCIM client's strings quoted back: scrubbed piece by piece, the
        // ones removed would be pieces of the token. Scrubbed whole, text
        // that holds no whole form comes back as it went, pieces, a form
        // cut short and a guess alike; a whole form, or a Basic credential
        // by its shape, is still removed.
        let (user, token) = ("admin@acme.example", "sandbox-admin-token");
        let s = Secrets::new(user, token);
        let probe = "qwertyui,sandbox-,andbox-a,zzzzzzzz,-admin-t,admin-tq,sandbox-admin-toke";
        assert_eq!(s.scrub_whole(probe), probe);
        assert_ne!(s.scrub_words(probe), probe, "piece by piece, they show");
        for echoed in [
            format!("denied: {token}."),
            format!("denied: {}", STANDARD.encode(format!("{user}:{token}"))),
            format!("Authorization: Basic {}", STANDARD.encode("someone:else")),
        ] {
            let clean = s.scrub_whole(&echoed);
            assert!(clean.contains(REDACTED), "{echoed} gave {clean}");
            assert!(!clean.contains(token), "{clean}");
        }
    }

    #[test]
    fn a_form_matched_only_whole_leaves_its_words_elsewhere() {
        // The placeholder the host completes is matched whole: runs of it
        // (`credenti`) are not pieces, or every word they make would go.
        let s = Secrets::user_only("admin@acme.example", &["gladly-credential-0123456789"]);
        let text = "check connection.api-user and connection.credential";
        assert_eq!(s.scrub(text), text);
        assert_eq!(
            s.scrub("sent gladly-credential-0123456789 back"),
            "sent <redacted> back"
        );
    }

    #[test]
    fn the_token_in_upper_or_lower_case_is_removed() {
        let s = Secrets::new("admin@acme.example", "sandbox-admin-token");
        for echo in [
            "token SANDBOX-ADMIN-TOKEN is not valid",
            "token Sandbox-Admin-Token is not valid",
            "token SANDBOX%2DADMIN-TOKEN is not valid",
            "for ADMIN@ACME.EXAMPLE:SANDBOX-ADMIN-TOKEN is not valid",
        ] {
            let got = s.scrub(echo);
            assert!(
                !got.to_lowercase().contains("admin-token") && got.ends_with(" is not valid"),
                "{echo} gave {got}"
            );
        }
        // The API user's lead in another case still takes what follows.
        let s = Secrets::user_only("admin@acme.example", &[]);
        assert_eq!(
            s.scrub("auth Admin@Acme.Example:s3cret end"),
            "auth Admin@Acme.Example:<redacted> end"
        );
    }

    #[test]
    fn a_base64_dump_of_the_request_headers_loses_the_credential() {
        // A server that base64-encodes what it was sent: the dump holds the
        // header's base64, not the token itself. At each offset.
        let (user, token) = ("admin@acme.example", "sandbox-admin-token");
        let header = STANDARD.encode(format!("{user}:{token}"));
        let public = (user.len() + 1) * 8 / 6;
        let needle = &header[public + 1..public + 13];
        for s in [Secrets::new(user, token), Secrets::user_only(user, &[])] {
            for prefix in ["{", "{\"", "{\"h"] {
                let dump = STANDARD.encode(format!(
                    r#"{prefix}"headers": {{"authorization": "Basic {header}"}}}}"#
                ));
                assert!(decodes_to(&dump, needle), "the check sees {dump}");
                let got = s.scrub(&format!("request {dump} end"));
                assert!(
                    !decodes_to(&got, needle) && got.ends_with(" end"),
                    "expected the header's base64 removed from {dump}, got {got}"
                );
            }
        }
    }

    /// Whether any run of base64 in `text`, read from any of its first four
    /// characters on, in either alphabet, decodes to something holding
    /// `needle`.
    fn decodes_to(text: &str, needle: &str) -> bool {
        text.split(|c: char| !is_base64(c)).any(|run| {
            let run = run.trim_end_matches('=');
            (0..4.min(run.len() + 1)).any(|skip| {
                let tail = &run[skip..];
                let groups = &tail[..tail.len() / 4 * 4];
                [STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().any(|e| {
                    e.decode(groups).is_ok_and(|bytes| {
                        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                    })
                })
            })
        })
    }

    #[test]
    fn the_token_base64_encoded_inside_a_longer_dump_is_removed_at_every_alignment() {
        let token = "t0k3n-s3cr3t-42";
        let s = Secrets::new("api@acme.com", token);
        // The token at byte offsets 0, 1 and 2 (mod 3) of the dump.
        for prefix in [r#"{"t":""#, r#"{"tk":""#, r#"{"tok":""#] {
            let dump = format!(r#"{prefix}{token}"}}"#);
            for b64 in [STANDARD.encode(&dump), URL_SAFE_NO_PAD.encode(&dump)] {
                assert!(decodes_to(&b64, "s3cr3t"), "the check sees {b64}");
                let got = s.scrub(&format!("body {b64} end"));
                assert!(
                    !decodes_to(&got, "s3cr3t") && got.contains(REDACTED),
                    "expected the token's base64 removed from {b64}, got {got}"
                );
            }
        }
    }

    #[test]
    fn an_eight_character_token_is_removed_from_inside_a_word() {
        // Eight characters are no toy token: even where the connector's own
        // words are kept readable, it goes wherever it stands (here glued
        // to a percent-encoded space, and itself escaped).
        let s = Secrets::new("api@acme.com", "s3cr3t-x");
        assert_eq!(
            s.scrub_words("GET /api/v1/agents?q=Bearer%20s3cr3t%2Dx failed"),
            "GET /api/v1/agents?q=Bearer%20<redacted> failed",
            "expected the escaped token removed"
        );
    }

    #[test]
    fn a_short_api_user_counts_only_where_a_word_starts() {
        let s = Secrets::user_only("u", &[]);
        assert_eq!(
            s.scrub_words("menu:open, u:s3cret"),
            "menu:open, u:<redacted>",
            "expected `menu:` left alone and what follows `u:` removed"
        );
    }

    #[test]
    fn the_base64_of_a_short_user_is_found_inside_a_longer_base64_string() {
        // `admin:` is six bytes: its base64 is eight characters that stand
        // in the middle of a dump, glued to the characters before them.
        let s = Secrets::user_only("admin", &[]);
        let dump = STANDARD.encode(r#"{"a":"admin:s3cret-token"}"#);
        assert_eq!(
            s.scrub(&format!("echo {dump} end")),
            format!("echo {}<redacted> end", &dump[..8]),
            "expected the base64 from `admin:` on removed"
        );
    }

    #[test]
    fn what_follows_the_known_user_is_removed_up_to_the_end_of_its_string() {
        // `user:` stays (whose credential was echoed), a marker shows
        // where the secret was, and the run ends at white space or a quote
        // however it is escaped, so the rest stays readable.
        let s = Secrets::user_only("api@acme.com", &[]);
        for (echo, want) in [
            (
                "auth api@acme.com:secret end",
                "auth api@acme.com:<redacted> end",
            ),
            (
                r#"{"msg":"{\"auth\":\"api@acme.com:secret\"}"}"#,
                r#"{"msg":"{\"auth\":\"api@acme.com:<redacted>\"}"}"#,
            ),
            (
                r#"{"msg":"auth api@acme.com:secret\u0022, retry"}"#,
                r#"{"msg":"auth api@acme.com:<redacted>\u0022, retry"}"#,
            ),
            (
                "q=api%40acme.com%3Asecret%20retry",
                "q=api%40acme.com%3A<redacted>%20retry",
            ),
        ] {
            assert_eq!(
                s.scrub(echo),
                want,
                "expected only the secret of {echo} removed"
            );
        }
    }

    #[test]
    fn an_escaped_echo_cut_short_keeps_the_text_after_it() {
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        assert_eq!(
            s.scrub("token t0k3n%2Ds3 (cut), retry"),
            "token <redacted> (cut), retry",
            "expected the cut-short echo removed and nothing after it"
        );
    }

    #[test]
    fn debug_output_never_shows_the_secrets() {
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        assert_eq!(format!("{s:?}"), "Secrets(<redacted>)");
    }

    #[test]
    fn a_token_escaped_every_few_characters_is_still_removed() {
        // No eight characters of the token stand as they are: only reading
        // the escapes finds it (`/` and `+` as JSON and URL encoders write
        // them).
        let s = Secrets::new("api@acme.com", "t0k/3n+s3c/r3t+x");
        for echo in [r"t0k\/3n\u002bs3c\/r3t\u002Bx", "t0k%2F3n%2Bs3c%2fr3t%2bx"] {
            assert_eq!(
                s.scrub(&format!("echo {echo} end")),
                "echo <redacted> end",
                "expected {echo} removed"
            );
        }
    }

    #[test]
    fn a_tail_of_the_token_echoed_escaped_is_removed() {
        // An echo that begins inside the token and escapes what JSON and
        // URLs escape: only reading the escapes from inside finds it (the
        // pieces were looked up as they stood: helper-45).
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        let every = |t: &str, f: fn(u8) -> String| t.bytes().map(f).collect::<String>();
        for echo in [
            "k3n%2ds3cr3t".to_string(),
            "k3n\\u002ds3cr3t".to_string(),
            "0k3n%2Ds3c".to_string(),
            "0k3n\\u002Ds3cr3t".to_string(),
            every("0k3n-s3cr3t", |b| format!("%{b:02X}")),
            every("0k3n-s3cr3t", |b| format!("\\u{b:04x}")),
        ] {
            let got = s.scrub(&format!("x {echo} y"));
            assert_eq!(got, "x <redacted> y", "{echo:?} left: {got}");
        }
        let s = Secrets::new("api@acme.com", "t0k3n/s3cr3t+x");
        for echo in ["****3n%2Fs3cr3t%2Bx", "****3n\\/s3cr3t+x"] {
            let got = s.scrub(&format!("t={echo} end"));
            assert!(!got.contains("s3cr3t"), "{echo:?} left: {got}");
        }
        // A token holding `%` and two hex digits is still found as it
        // stands, from inside too.
        let s = Secrets::new("api@acme.com", "ab%41cdefgh%42ijk");
        let got = s.scrub("x ****%41cdefgh%42ijk y");
        assert!(!got.contains("cdefgh"), "left: {got}");
    }

    #[test]
    fn a_token_echoed_as_html_character_references_is_removed() {
        // A proxy's HTML page escapes what it shows: every character
        // (`&#115;`), or all but letters and digits (`&#x2d;`, as HTML
        // encoders do), or by name (`&colon;`). No run of eight of the
        // token's characters stands as it is in any of these.
        let s = Secrets::new("admin@acme.example", "sandbox-admin-token");
        let pair = "admin@acme.example:sandbox-admin-token";
        let every = |t: &str, f: &dyn Fn(char) -> String| t.chars().map(f).collect::<String>();
        let marks = |c: char| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("&#x{:02x};", c as u32)
            }
        };
        for echo in [
            every(pair, &|c| format!("&#{};", c as u32)),
            every("sandbox-admin-token", &|c| format!("&#X{:X};", c as u32)),
            every(pair, &marks),
            every("box-admin-token", &marks),
            "admin&commat;acme.example&colon;sandbox&#45;admin&#45;token".to_string(),
        ] {
            let got = s.scrub(&format!("<pre>auth: {echo}</pre>"));
            assert!(
                got.starts_with("<pre>auth: ") && got.ends_with("</pre>"),
                "expected the page around it kept, got {got}"
            );
            for piece in ["sandbox", "token", "&#115;", "&#X73;", "&#x2d;t"] {
                assert!(!got.contains(piece), "{echo:?} left {piece:?}: {got}");
            }
        }
        // An ampersand that is no reference stays as it is.
        assert_eq!(
            s.scrub_words("Tom &amp Jerry & co &#; &#xZZ;"),
            "Tom &amp Jerry & co &#; &#xZZ;"
        );
    }

    #[test]
    fn a_non_ascii_token_percent_encoded_as_utf8_is_removed() {
        let s = Secrets::new("api@acme.com", "tökén-sécrét");
        assert_eq!(
            s.scrub("q=t%C3%B6k%C3%A9n-s%c3%a9cr%C3%A9t end"),
            "q=<redacted> end",
            "expected the UTF-8 bytes read as the token's characters"
        );
    }

    #[test]
    fn the_api_users_address_in_a_query_stays_readable() {
        // `api@acme.com` followed by an escaped `&`, not `:`: no
        // credential follows it.
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        let q = "GET /api/v1/agents?email=api%40acme.com%26active%3Dtrue failed";
        assert_eq!(s.scrub_words(q), q, "expected the query left as it is");
    }

    #[test]
    fn a_basic_credential_cut_inside_a_base64_group_is_removed() {
        // base64("api:real-token") cut one character into its fifth group:
        // it no longer decodes whole, its first four groups still do.
        let s = Secrets::user_only("someone-else@x.io", &[]);
        assert_eq!(
            s.scrub("denied: Basic YXBpOnJlYWwtdG9rZ…"),
            "denied: Basic <redacted>…",
            "expected the truncated credential removed"
        );
    }

    #[test]
    fn a_gladly_id_after_an_ordinary_word_stays_readable() {
        // Gladly ids are URL-safe base64 and some decode to bytes holding a
        // `:`; only after `basic` is such a run taken for a credential.
        let s = Secrets::new("api@acme.com", "t0k3n-s3cr3t");
        let id = "nRc6AuRrgRDyqgWeEQdEYg";
        assert!(
            URL_SAFE_NO_PAD.decode(id).unwrap().contains(&b':'),
            "the id decodes to a `:`"
        );
        let text = format!("agent {id} is not active");
        assert_eq!(s.scrub(&text), text, "expected the id kept");
    }
}
