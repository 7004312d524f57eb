//! RTSP header fields: an ordered list with case-insensitive lookup (RFC 2326 §4.2: field
//! names are case-insensitive, as in HTTP/1.1 §4.2).

use std::fmt;

/// Ordered header fields. Repeated names are kept (GStreamer sends two `User-Agent`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` to `value`: replaces the first field of that name in place and removes
    /// the others, or appends when absent.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(i) => {
                if let Some(slot) = self.fields.get_mut(i) {
                    slot.1 = value;
                }
                let mut idx = 0;
                self.fields.retain(|(n, _)| {
                    let keep = idx <= i || !n.eq_ignore_ascii_case(&name);
                    idx += 1;
                    keep
                });
            }
            None => self.fields.push((name, value)),
        }
    }

    /// Appends a field, keeping earlier fields of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Removes every field named `name`.
    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The `CSeq` value (RFC 2326 §12.17), if present and numeric.
    pub fn cseq(&self) -> Option<u32> {
        self.get("CSeq").and_then(|v| v.trim().parse().ok())
    }

    /// The session id of the `Session` header without its `;timeout=` parameter
    /// (RFC 2326 §12.37).
    pub fn session_id(&self) -> Option<&str> {
        self.get("Session")
            .map(|v| v.split(';').next().unwrap_or("").trim())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.fields.iter().map(|(n, v)| (n, v)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_ordered() {
        let mut h = Headers::new();
        h.append("User-Agent", "a");
        h.append("CSeq", "7");
        h.append("user-agent", "b");
        assert_eq!(h.get("USER-AGENT"), Some("a"));
        assert_eq!(h.get_all("User-Agent").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.cseq(), Some(7));
        h.insert("User-agent", "c");
        assert_eq!(h.get_all("User-Agent").collect::<Vec<_>>(), ["c"]);
        assert_eq!(h.iter().next(), Some(("User-Agent", "c")));
        h.insert("Session", "abc;timeout=60");
        assert_eq!(h.session_id(), Some("abc"));
        h.remove("session");
        assert_eq!(h.len(), 2);
    }
}
