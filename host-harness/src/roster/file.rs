//! Roster files: CSV as HR and IdP exports are, or JSON with the WIT's field
//! names. Every row keeps where it came from, so that any error about it,
//! here or from the component (`desired[3].role`), names the file, line and
//! column.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use serde_json::value::RawValue;

use crate::agents::{AgentProfile, Role};
use crate::roster::DesiredAgent;
use crate::roster::locate::line_col;

/// A roster read from a file.
pub struct RosterFile {
    pub path: PathBuf,
    pub rows: Vec<DesiredAgent>,
    /// Per row: where it starts, and where each field stands.
    places: Vec<Place>,
}

/// A row's line, and each field's line and column (WIT field names).
struct Place {
    line: u64,
    fields: HashMap<&'static str, (u64, u64)>,
}

/// A bad roster file: where, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub file: PathBuf,
    /// 1-based; 0 for the file as a whole (it cannot be read).
    pub line: u64,
    pub column: u64,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the file as a whole (it cannot be read), no place in it.
        if self.line == 0 {
            write!(f, "{}: ", self.file.display())?;
        } else {
            write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputError {}

/// The CSV header names, and the WIT field each fills.
const CSV_COLUMNS: &[(&str, &str)] = &[
    ("email", "email-address"),
    ("name", "name"),
    ("role", "role"),
    ("inboxes", "inboxes"),
    ("teams", "teams"),
    ("external_id", "external-id"),
    ("phone", "phone-number"),
    ("language", "language"),
    ("active", "active"),
];

impl RosterFile {
    /// Reads `path`: JSON when it ends in `.json` or starts with `[`, CSV
    /// otherwise.
    pub fn read(path: &Path) -> Result<Self, InputError> {
        let at = |line, column, message: String| InputError {
            file: path.to_path_buf(),
            line,
            column,
            field: None,
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| at(0, 0, format!("cannot be read: {e}")))?;
        let text = crate::roster::locate::utf8(bytes).map_err(|(line, column)| {
            at(
                line,
                column,
                "is not UTF-8 text; save the export as UTF-8".into(),
            )
        })?;
        // Spreadsheet programs start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text.trim_start().starts_with('[');
        if json {
            read_json(path, text)
        } else {
            read_csv(path, text)
        }
    }

    /// `file:line:column: field: message` for an error the component named
    /// with a field such as `desired[3].inboxes`; `None` for other fields.
    pub fn locate(&self, field: &str, message: &str) -> Option<InputError> {
        let rest = field.strip_prefix("desired[")?;
        let (index, rest) = rest.split_once(']')?;
        let index: usize = index.parse().ok()?;
        let name = rest.strip_prefix('.').unwrap_or(rest);
        let top = name.split(['.', '[']).next().unwrap_or(name);
        let place = self.places.get(index)?;
        let (line, column) = place.fields.get(top).copied().unwrap_or((place.line, 1));
        Some(InputError {
            file: self.path.clone(),
            line,
            column,
            field: Some(name.to_string()),
            message: self.lines_named(message),
        })
    }

    /// `text` with each row it names by its place in the roster
    /// (`desired[2]`, as the connector names rows) named by its line in
    /// this file instead.
    pub fn lines_named(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("desired[") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "desired[".len()..];
            let row = after
                .split_once(']')
                .and_then(|(n, tail)| Some((n.parse::<usize>().ok()?, tail)))
                .and_then(|(n, tail)| Some((self.places.get(n)?.line, tail)));
            match row {
                Some((line, tail)) => {
                    out.push_str(&format!("line {line}"));
                    rest = tail;
                }
                None => {
                    out.push_str("desired[");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The line of the row at `index` of the roster.
    pub fn line_of(&self, index: u32) -> Option<u64> {
        self.places
            .get(usize::try_from(index).ok()?)
            .map(|p| p.line)
    }
}

pub fn parse_role(s: &str) -> Option<Role> {
    Some(
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "agent" => Role::Agent,
            "team-lead" => Role::TeamLead,
            "admin" => Role::Admin,
            "analyst" => Role::Analyst,
            "task" => Role::Task,
            _ => return None,
        },
    )
}

const ROLES: &str = "agent, team-lead, admin, analyst or task";

fn parse_active(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "y" | "1" | "active" => Some(true),
        "false" | "no" | "n" | "0" | "inactive" => Some(false),
        _ => None,
    }
}

fn read_csv(path: &Path, text: &str) -> Result<RosterFile, InputError> {
    let err = |line, column, field: Option<&str>, message: String| InputError {
        file: path.to_path_buf(),
        line,
        column,
        field: field.map(str::to_string),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        // Not trimmed by the reader: a line break quoted at a field's end
        // counts for the lines of the fields after it; cells are trimmed
        // as read.
        .trim(csv::Trim::None)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            let line = e.position().map_or(1, |p| line_at(text, p.byte()));
            err(line, 1, None, format!("the header row cannot be read: {e}"))
        })?
        .clone();
    // Blank lines before it are skipped.
    let header_line = headers.position().map_or(1, |p| line_at(text, p.byte()));
    let err_header = |column, message| err(header_line, column, None, message);
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        let Some((_, field)) = CSV_COLUMNS.iter().find(|(name, _)| *name == h) else {
            return Err(err_header(
                i as u64 + 1,
                format!(
                    "unknown column '{h}'; the columns are {}",
                    CSV_COLUMNS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if index.insert(field, i).is_some() {
            return Err(err_header(
                i as u64 + 1,
                format!("the column '{h}' appears twice"),
            ));
        }
    }
    for required in ["email-address", "name"] {
        if !index.contains_key(required) {
            let column = CSV_COLUMNS
                .iter()
                .find(|(_, f)| *f == required)
                .map(|(n, _)| *n)
                .unwrap_or(required);
            return Err(err_header(
                1,
                format!("the header row has no '{column}' column"),
            ));
        }
    }
    let columns: HashMap<&'static str, u64> =
        index.iter().map(|(f, i)| (*f, *i as u64 + 1)).collect();
    let mut rows = Vec::new();
    let mut places = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| line_at(text, p.byte()));
            err(line, 1, None, format!("cannot be read as CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| line_at(text, p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // a blank line at the end of an export
        }
        // A field's line: the record's, and the line breaks quoted in the
        // fields before it.
        let field_line = |i: usize| line + record.iter().take(i).map(line_breaks).sum::<u64>();
        let cell = |field: &str| {
            index
                .get(field)
                .and_then(|&i| record.get(i))
                .map_or("", str::trim)
        };
        let opt = |field: &str| Some(cell(field).to_string()).filter(|s| !s.is_empty());
        let bad = |field: &'static str, message: String| {
            let line = field_line(index[field]);
            err(line, columns[field], Some(field), message)
        };
        // An empty cell leaves the list as it is; a cell of separators
        // alone (`;`) would read as "none at all" and empty it, so it is
        // refused below.
        let list = |field: &str| {
            opt(field).map(|s| {
                s.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
        };
        for field in ["inboxes", "teams"] {
            if list(field).is_some_and(|l| l.is_empty()) {
                return Err(bad(
                    field,
                    "holds only separators; leave the cell empty to keep the list as it is".into(),
                ));
            }
        }
        let email = cell("email-address");
        if email.is_empty() {
            return Err(bad("email-address", "is empty".into()));
        }
        let name = cell("name");
        if name.is_empty() {
            return Err(bad("name", "is empty".into()));
        }
        let role = match opt("role") {
            None => None,
            Some(r) => Some(
                parse_role(&r)
                    .ok_or_else(|| bad("role", format!("'{r}' is not a role; use {ROLES}")))?,
            ),
        };
        let active = parse_active(cell("active")).ok_or_else(|| {
            bad(
                "active",
                format!(
                    "'{}' is not true or false (yes/no, 1/0 also do)",
                    cell("active")
                ),
            )
        })?;
        rows.push(DesiredAgent {
            email_address: email.to_string(),
            name: name.to_string(),
            role,
            inboxes: list("inboxes"),
            teams: list("teams"),
            external_id: opt("external-id"),
            phone_number: opt("phone-number"),
            language: opt("language"),
            agent_profile: None,
            active,
        });
        places.push(Place {
            line,
            fields: columns
                .iter()
                .map(|(f, c)| (*f, (field_line(index[f]), *c)))
                .collect(),
        });
    }
    Ok(RosterFile {
        path: path.to_path_buf(),
        rows,
        places,
    })
}

/// The line (from 1) of `text` that a CSV record beginning at `byte`
/// begins on: past any line breaks there, counted from the text itself
/// (the csv reader's own count runs behind after CRLF and leaves out the
/// blank lines it skips).
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
        at += 1;
    }
    1 + line_breaks(&text[..at])
}

/// How many lines `text` ends: `\n`, `\r\n`, or `\r` alone (old Mac
/// exports).
fn line_breaks(text: &str) -> u64 {
    let bytes = text.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count() as u64
}

fn read_json(path: &Path, text: &str) -> Result<RosterFile, InputError> {
    let err = |offset: usize, field: Option<&str>, message: String| {
        let (line, column) = line_col(text, offset);
        InputError {
            file: path.to_path_buf(),
            line,
            column,
            field: field.map(str::to_string),
            message,
        }
    };
    // Read whole first, with serde_json's nesting limit (128), which a
    // list of raw values does not apply: the key scan below reads each
    // level again, so a file nested 20,000 deep (40 KB) took 12 s, and
    // twice as deep four times as long.
    let items: Vec<&RawValue> = serde_json::from_str::<Value>(text)
        .and_then(|_| serde_json::from_str(text))
        .map_err(|e| {
            let ((line, column), said) = crate::roster::locate::syntax_error(text, &e);
            InputError {
                file: path.to_path_buf(),
                line,
                column,
                field: None,
                message: format!("is not a JSON list of desired agents: {said}"),
            }
        })?;
    if let Some((key, at)) = crate::roster::locate::duplicate_key(text) {
        return Err(err(at, None, crate::roster::locate::written_twice(&key)));
    }
    let base = text.as_ptr() as usize;
    let mut rows = Vec::new();
    let mut places = Vec::new();
    for raw in items {
        let start = raw.get().as_ptr() as usize - base;
        // Where each key's value stands in this element, for finer
        // positions (read by a parser: a key's name inside a string value
        // is not the key).
        let keys = super::locate::values(text, raw.get());
        let key_at = |key: &str| keys.get(key).copied().unwrap_or(start);
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(raw.get()) else {
            return Err(err(
                start,
                None,
                "each desired agent must be a JSON object".into(),
            ));
        };
        const KEYS: &[&str] = &[
            "email-address",
            "name",
            "role",
            "inboxes",
            "teams",
            "external-id",
            "phone-number",
            "language",
            "agent-profile",
            "active",
        ];
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(err(
                key_at(k),
                Some(k),
                format!(
                    "is not a field of a desired agent; the fields are {}",
                    KEYS.join(", ")
                ),
            ));
        }
        let text_of = |k: &'static str| -> Result<Option<String>, InputError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(err(key_at(k), Some(k), "must be a string".into())),
            }
        };
        let list_of = |k: &'static str| -> Result<Option<Vec<String>>, InputError> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(v)) => v
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(Some)
                    .ok_or_else(|| {
                        err(key_at(k), Some(k), "must be a list of ids or names".into())
                    }),
                Some(_) => Err(err(
                    key_at(k),
                    Some(k),
                    "must be a list of ids or names".into(),
                )),
            }
        };
        let email = text_of("email-address")?
            .ok_or_else(|| err(start, Some("email-address"), "is missing".into()))?;
        let name = text_of("name")?.ok_or_else(|| err(start, Some("name"), "is missing".into()))?;
        let role = match text_of("role")? {
            None => None,
            Some(r) => Some(parse_role(&r).ok_or_else(|| {
                err(
                    key_at("role"),
                    Some("role"),
                    format!("'{r}' is not a role; use {ROLES}"),
                )
            })?),
        };
        let active = match obj.get("active") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(err(
                    key_at("active"),
                    Some("active"),
                    "must be true or false".into(),
                ));
            }
        };
        let agent_profile = match obj.get("agent-profile") {
            None | Some(Value::Null) => None,
            // Its keys and their values read strictly: a key misspelt or a
            // bio of 5 once made an empty profile, silently.
            Some(Value::Object(p))
                if p.iter().all(|(k, v)| {
                    matches!(k.as_str(), "bio" | "avatar-url") && (v.is_string() || v.is_null())
                }) =>
            {
                let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
                Some(AgentProfile {
                    bio: s("bio"),
                    avatar_url: s("avatar-url"),
                })
            }
            Some(_) => {
                return Err(err(
                    key_at("agent-profile"),
                    Some("agent-profile"),
                    "must be an object of bio and avatar-url, each a string".into(),
                ));
            }
        };
        places.push(Place {
            line: line_col(text, start).0,
            fields: KEYS
                .iter()
                .map(|k| (*k, line_col(text, key_at(k))))
                .collect(),
        });
        rows.push(DesiredAgent {
            email_address: email,
            name,
            role,
            inboxes: list_of("inboxes")?,
            teams: list_of("teams")?,
            external_id: text_of("external-id")?,
            phone_number: text_of("phone-number")?,
            language: text_of("language")?,
            agent_profile,
            active,
        });
    }
    Ok(RosterFile {
        path: path.to_path_buf(),
        rows,
        places,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<RosterFile, InputError> {
        let dir = std::env::temp_dir().join(format!("gladly-file-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let r = RosterFile::read(&path);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn wrong_input_is_refused_at_its_place_not_read_as_something_else() {
        // A key's name inside a string value is not the key: the role's
        // error stands at the role's value.
        let text = r#"[{"email-address":"a@x.io","name":"role","role":"boss"}]"#;
        let e = read("k.json", text).err().expect("refused");
        let boss = text.find("\"boss\"").unwrap() as u64 + 1;
        assert_eq!(
            (e.line, e.column, e.field.as_deref()),
            (1, boss, Some("role")),
            "{e}"
        );
        // A profile with a key misspelt or a bio that is no string.
        for profile in [r#"{"avatarUrl":"https://x.io/a.png"}"#, r#"{"bio":5}"#] {
            let text =
                format!(r#"[{{"email-address":"a@x.io","name":"A","agent-profile":{profile}}}]"#);
            let e = read("p.json", &text).err().expect("refused");
            assert_eq!(e.field.as_deref(), Some("agent-profile"), "{e}");
            assert_eq!(e.column as usize, text.find(profile).unwrap() + 1, "{e}");
        }
        // A cell of separators alone is not "no inboxes".
        let e = read("s.csv", "email,name,inboxes\na@x.io,A,;\n")
            .err()
            .expect("refused");
        assert_eq!((e.line, e.field.as_deref()), (2, Some("inboxes")), "{e}");
        // A file that cannot be read has no place in it.
        let e = RosterFile::read(Path::new("/nonexistent/roster.csv"))
            .err()
            .expect("refused");
        assert!(
            e.to_string()
                .starts_with("/nonexistent/roster.csv: cannot be read"),
            "{e}"
        );
    }

    #[test]
    fn a_csv_error_names_the_line_it_is_on_whatever_the_line_breaks() {
        for (name, text, line, field) in [
            // An export from Windows or Excel: CRLF.
            (
                "crlf.csv",
                "email,name,role\r\na@x.io,A,boss\r\n",
                2,
                "role",
            ),
            (
                "crlf2.csv",
                "email,name,role\r\na@x.io,A,agent\r\nb@x.io,B,boss\r\n",
                3,
                "role",
            ),
            // Blank lines inside, and before the header.
            (
                "blank.csv",
                "email,name,role\na@x.io,A,agent\n\n\n\nb@x.io,B,boss\n",
                6,
                "role",
            ),
            (
                "head.csv",
                "\n\nemail,name,role\nb@x.io,B,boss\n",
                4,
                "role",
            ),
            // A line break quoted in an earlier field of the record, also
            // at its end; and CR alone.
            (
                "quoted.csv",
                "email,name,role\nb@x.io,\"B\nB\",boss\n",
                3,
                "role",
            ),
            (
                "quoted-end.csv",
                "email,name,role\nb@x.io,\"B\n\",boss\n",
                3,
                "role",
            ),
            (
                "cr.csv",
                "email,name,role\ra@x.io,A,agent\rb@x.io,B,boss\r",
                3,
                "role",
            ),
        ] {
            let e = read(name, text).err().expect("refused");
            assert_eq!(
                (e.line, e.field.as_deref()),
                (line, Some(field)),
                "{name}: {e}"
            );
        }
        // The header's own errors, on its line.
        let e = read("h.csv", "\r\n\r\nemail,nom\r\n")
            .err()
            .expect("refused");
        assert_eq!(e.line, 3, "{e}");
        // Rows read right name their lines for the planner's errors.
        let r = read("ok.csv", "email,name\r\n\r\na@x.io,A\r\nb@x.io,B\r\n").unwrap();
        let lines: Vec<u64> = r.places.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4]);
    }
}

#[cfg(test)]
mod deep {
    use super::*;

    /// A roster JSON file nested deeply (a broken export, or a file made to
    /// hang the nightly job) is refused by the JSON reader's depth limit, as
    /// a plan file is: read as a list of raw values first, which applies
    /// none, its key scan read every level again, and 40 KB nested 20,000
    /// deep took 12 s to refuse (twice as deep, four times as long).
    #[test]
    fn a_deeply_nested_roster_is_refused_by_the_depth_limit() {
        let depth = 20_000;
        let text = format!("[{}{}]", "[".repeat(depth), "]".repeat(depth));
        let dir = std::env::temp_dir().join(format!("gladly-deep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("deep.json");
        std::fs::write(&path, &text).unwrap();
        let r = RosterFile::read(&path);
        let _ = std::fs::remove_dir_all(&dir);
        let e = r.err().expect("refused");
        assert_eq!((e.line, e.column), (1, 128), "{e:?}");
        assert!(e.message.contains("recursion limit"), "{e:?}");
    }
}
