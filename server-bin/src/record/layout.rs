//! Where recordings live on disk, which streams `record.streams` names,
//! and the UTC calendar the names are written in.
//!
//! `record.dir/{app}/{stream}/{YYYY-MM-DD}/{HH-MM-SS}.mp4` (ZLMediaKit's
//! layout, in UTC: a server's local zone is not something a recording
//! should depend on), a second file started in the same second
//! `{HH-MM-SS}_1.mp4`, and beside each file its fragment index
//! `.{HH-MM-SS}.mp4.idx` (hidden, so a listing of the day shows the
//! recordings only).

use std::path::{Path, PathBuf};

use stream_core::StreamKey;

/// A `record.streams` entry.
#[derive(Debug, Clone)]
pub enum StreamPattern {
    /// `"app/stream"`.
    Exact(String),
    /// `"app/*"`: every stream of the app.
    App(String),
    /// `"~regex"` against `"app/stream"`.
    Regex(regex::Regex),
}

impl StreamPattern {
    /// Parses one entry.
    ///
    /// # Errors
    /// A message for an entry without `/`, or a regular expression that does
    /// not compile.
    pub fn parse(entry: &str) -> Result<StreamPattern, String> {
        if let Some(re) = entry.strip_prefix('~') {
            return crate::config::stream_pattern(re)
                .map(StreamPattern::Regex)
                .map_err(|e| e.to_string());
        }
        let Some((app, stream)) = entry.rsplit_once('/') else {
            return Err("expected \"app/stream\", \"app/*\" or \"~regex\"".into());
        };
        if app.is_empty() || stream.is_empty() {
            return Err("empty app or stream".into());
        }
        Ok(match stream {
            "*" => StreamPattern::App(app.to_string()),
            _ => StreamPattern::Exact(entry.to_string()),
        })
    }

    /// Whether `key` is named by this entry.
    pub fn matches(&self, key: &StreamKey) -> bool {
        match self {
            StreamPattern::Exact(name) => {
                name.len() == key.app.len() + 1 + key.stream.len()
                    && name.starts_with(key.app.as_str())
                    && name.ends_with(key.stream.as_str())
                    && name.as_bytes()[key.app.len()] == b'/'
            }
            StreamPattern::App(app) => *app == key.app,
            StreamPattern::Regex(re) => re.is_match(&format!("{}/{}", key.app, key.stream)),
        }
    }
}

/// `"app/stream"`: the catalogue's name of a stream.
pub fn stream_name(key: &StreamKey) -> String {
    format!("{}/{}", key.app, key.stream)
}

/// The path of a recording started at `start_ms` (unix ms), relative to the
/// stream's directory: `YYYY-MM-DD/HH-MM-SS.mp4`, or `…_n.mp4` for the
/// `n`-th further file started within the same second.
pub fn file_path(start_ms: u64, n: u32) -> PathBuf {
    let t = Utc::from_ms(start_ms);
    let name = match n {
        0 => format!("{:02}-{:02}-{:02}.mp4", t.hour, t.minute, t.second),
        n => format!("{:02}-{:02}-{:02}_{n}.mp4", t.hour, t.minute, t.second),
    };
    Path::new(&t.day()).join(name)
}

/// The fragment index beside `mp4`: `.{name}.idx` in the same directory.
pub fn index_path(mp4: &Path) -> PathBuf {
    let name = mp4.file_name().and_then(|n| n.to_str()).unwrap_or("x.mp4");
    mp4.with_file_name(format!(".{name}.idx"))
}

/// A UTC calendar time (proleptic Gregorian), second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
}

impl Utc {
    /// The calendar time of `ms` after the unix epoch.
    pub fn from_ms(ms: u64) -> Utc {
        let secs = ms / 1000;
        let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// Unix ms of this time (`None` before 1970).
    pub fn to_ms(self) -> Option<u64> {
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        u64::try_from(secs).ok().map(|s| s * 1000)
    }

    /// `YYYY-MM-DD`.
    pub fn day(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            self.day(),
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// A time given by an API caller: unix seconds (`1765000000`, fractions
/// allowed), `YYYY-MM-DDTHH:MM:SS[.fff]Z`, or a day `YYYY-MM-DD` (its
/// midnight, UTC). Unix ms.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (0.0..1e11)
            .contains(&secs)
            .then_some((secs * 1000.0) as u64);
    }
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut utc = Utc {
        year: i64::from(year),
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
    };
    let mut frac_ms = 0;
    if let Some(time) = time {
        let time = time
            .strip_suffix('Z')
            .or_else(|| time.strip_suffix("+00:00"))?;
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut t = hms.splitn(3, ':').map(|p| p.parse::<u32>().ok());
        (utc.hour, utc.minute, utc.second) = (t.next()??, t.next()??, t.next()??);
        if utc.hour > 23 || utc.minute > 59 || utc.second > 60 {
            return None;
        }
        if !frac.is_empty() {
            let digits: String = frac.chars().take(3).collect();
            frac_ms = format!("{digits:0<3}").parse::<u64>().ok()?;
        }
    }
    Some(utc.to_ms()? + frac_ms)
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, stream: &str) -> StreamKey {
        StreamKey::new(app, stream)
    }

    #[test]
    fn calendar_round_trips() {
        // 2025-12-06T10:00:05Z
        let ms = 1_765_015_205_000;
        let t = Utc::from_ms(ms);
        assert_eq!(t.rfc3339(), "2025-12-06T10:00:05Z");
        assert_eq!(t.to_ms(), Some(ms));
        for days in [0i64, 59, 60, 365, 10_957, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(Utc::from_ms(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Utc::from_ms(951_782_400_000).day(), "2000-02-29");
    }

    #[test]
    fn times_parse_in_three_forms() {
        assert_eq!(parse_time("1765015205"), Some(1_765_015_205_000));
        assert_eq!(parse_time("1765015205.5"), Some(1_765_015_205_500));
        assert_eq!(parse_time("2025-12-06T10:00:05Z"), Some(1_765_015_205_000));
        assert_eq!(
            parse_time("2025-12-06T10:00:05.25Z"),
            Some(1_765_015_205_250)
        );
        assert_eq!(parse_time("2025-12-06"), Some(1_764_979_200_000));
        for bad in [
            "",
            "-1",
            "nan",
            "2025-13-01",
            "2025-12-06T25:00:00Z",
            "2025-12-06T10:00:00+02:00",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_follow_zlmediakit_layout_in_utc() {
        let p = file_path(1_765_015_205_000, 0);
        assert_eq!(p, Path::new("2025-12-06/10-00-05.mp4"));
        assert_eq!(
            file_path(1_765_015_205_000, 2),
            Path::new("2025-12-06/10-00-05_2.mp4")
        );
        assert_eq!(
            index_path(Path::new("/r/live/a/2025-12-06/10-00-05.mp4")),
            Path::new("/r/live/a/2025-12-06/.10-00-05.mp4.idx")
        );
    }

    #[test]
    fn patterns_name_streams() {
        let exact = StreamPattern::parse("live/cam").unwrap();
        assert!(exact.matches(&key("live", "cam")));
        assert!(!exact.matches(&key("live", "cam2")));
        assert!(!exact.matches(&key("liv", "e/cam")));
        let app = StreamPattern::parse("live/*").unwrap();
        assert!(app.matches(&key("live", "x")) && !app.matches(&key("vod", "x")));
        let re = StreamPattern::parse("~^live/cam[0-9]+$").unwrap();
        assert!(re.matches(&key("live", "cam12")) && !re.matches(&key("live", "camx")));
        assert!(StreamPattern::parse("nocam").is_err());
        assert!(StreamPattern::parse("~(").is_err());
    }
}
