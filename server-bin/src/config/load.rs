//! Merging the configuration layers, lowest priority first:
//! embedded defaults < `strom.toml` (or `--config PATH`) < `STROM_*`
//! environment (nested keys joined with `__`) < command-line flags.

use std::net::IpAddr;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;

use super::Config;

/// The default configuration file, read from the working directory when it exists.
pub const DEFAULT_FILE: &str = "strom.toml";
/// Prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "STROM_";

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config PATH`: must exist when given.
    pub config_file: Option<PathBuf>,
    /// `--bind`
    pub bind: Option<IpAddr>,
    /// `--rtmp-port`
    pub rtmp_port: Option<u16>,
    /// `--rtsp-port`
    pub rtsp_port: Option<u16>,
    /// `--http-port`
    pub http_port: Option<u16>,
    /// `--webrtc-port`
    pub webrtc_port: Option<u16>,
    /// `--log-level`
    pub log_level: Option<String>,
}

/// Why the configuration could not be loaded. Start-up stops with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config PATH` names a file that cannot be read.
    #[error("cannot read configuration file {path}: {reason}")]
    File {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// A key is unknown or its value invalid.
    #[error("configuration key `{key}` (from {origin}): {reason}")]
    Key {
        /// Dotted key, e.g. `rtmp.port`.
        key: String,
        /// Which layer set it: the file, the environment variable, the flag.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One configuration layer, kept apart so an error can name where a key came from.
struct Layer {
    origin: Box<dyn Fn(&str) -> String>,
    figment: Figment,
}

/// Loads and validates the effective configuration.
pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
    let layers = layers(overrides)?;
    let merged = layers.iter().fold(
        Figment::from(Serialized::defaults(Config::default())),
        |f, l| f.merge(l.figment.clone()),
    );
    let config: Config = merged.extract().map_err(|e| describe(&e, &layers))?;
    config
        .validate()
        .map_err(|(key, reason)| ConfigError::Key {
            origin: origin_of(&key, &layers),
            key,
            reason,
        })?;
    Ok(config)
}

fn layers(o: &Overrides) -> Result<Vec<Layer>, ConfigError> {
    let mut layers = Vec::new();
    let file = match &o.config_file {
        Some(path) => {
            std::fs::metadata(path).map_err(|e| ConfigError::File {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Some(path.clone())
        }
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
    };
    if let Some(path) = file {
        let shown = path.display().to_string();
        layers.push(Layer {
            origin: Box::new(move |_| format!("file {shown}")),
            figment: Figment::from(Toml::file_exact(&path)),
        });
    }
    layers.push(Layer {
        origin: Box::new(|key| format!("environment variable {}", env_var_name(key))),
        figment: Figment::from(Env::prefixed(ENV_PREFIX).split("__")),
    });
    let mut cli = Figment::new();
    let mut flag = |key: &str, value: Option<figment::value::Value>| {
        if let Some(v) = value {
            cli = std::mem::take(&mut cli).merge(Serialized::default(key, v));
        }
    };
    flag("server.bind", o.bind.map(|b| b.to_string().into()));
    flag("rtmp.port", o.rtmp_port.map(Into::into));
    flag("rtsp.port", o.rtsp_port.map(Into::into));
    flag("webrtc.port", o.webrtc_port.map(Into::into));
    flag("http.port", o.http_port.map(Into::into));
    flag("log.level", o.log_level.clone().map(Into::into));
    layers.push(Layer {
        origin: Box::new(|key| format!("command-line flag --{}", flag_name(key))),
        figment: cli,
    });
    Ok(layers)
}

fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

fn flag_name(key: &str) -> String {
    match key {
        "server.bind" => "bind".into(),
        "log.level" => "log-level".into(),
        other => other.replace(['.', '_'], "-"),
    }
}

/// The highest-priority layer that sets `key`, or the embedded defaults.
fn origin_of(key: &str, layers: &[Layer]) -> String {
    layers
        .iter()
        .rev()
        .find(|l| l.figment.find_value(key).is_ok())
        .map(|l| (l.origin)(key))
        .unwrap_or_else(|| "embedded defaults".into())
}

fn describe(error: &figment::Error, layers: &[Layer]) -> ConfigError {
    use figment::error::Kind;
    let mut path = error.path.clone();
    // figment usually reports the unknown field as the path's last element already.
    if let Kind::UnknownField(field, _) = &error.kind {
        if path.last() != Some(field) {
            path.push(field.clone());
        }
    }
    let key = path.join(".");
    let reason = match &error.kind {
        Kind::UnknownField(..) => "unknown key".to_string(),
        other => other.to_string(),
    };
    if key.is_empty() {
        // A file that is not valid TOML has no key to name; figment names the file.
        return ConfigError::Key {
            key: "(file)".into(),
            origin: error
                .metadata
                .as_ref()
                .map(|m| m.name.to_string())
                .unwrap_or_else(|| "configuration".into()),
            reason: error.to_string(),
        };
    }
    ConfigError::Key {
        origin: origin_of(&key, layers),
        key,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    // figment's Jail closure returns figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn load_in_jail(toml: &str, env: &[(&str, &str)], o: Overrides) -> Result<Config, String> {
        let mut out = Err(String::new());
        Jail::expect_with(|jail| {
            jail.create_file(DEFAULT_FILE, toml)?;
            for (k, v) in env {
                jail.set_env(k, v);
            }
            out = load(&o).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    #[test]
    fn embedded_defaults() {
        let c = load_in_jail("", &[], Overrides::default()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.rtmp.port, 1935);
        assert_eq!(c.rtsp.port, 8554);
        assert_eq!(c.http.port, 8080);
        assert_eq!(c.server.bind.to_string(), "0.0.0.0");
    }

    #[test]
    fn layers_override_in_order() {
        let toml = "[rtmp]\nport = 1000\n[rtsp]\nport = 2000\n[http]\nport = 3000\n";
        let env = [("STROM_RTSP__PORT", "2001"), ("STROM_HTTP__PORT", "3001")];
        let o = Overrides {
            http_port: Some(3002),
            ..Overrides::default()
        };
        let c = load_in_jail(toml, &env, o).unwrap();
        assert_eq!(c.rtmp.port, 1000, "file beats defaults");
        assert_eq!(c.rtsp.port, 2001, "environment beats file");
        assert_eq!(c.http.port, 3002, "flag beats environment");
    }

    #[test]
    fn nested_env_keys_and_enums() {
        let env = [
            ("STROM_STREAM__PUBLISH_CONFLICT", "kick"),
            ("STROM_LOG__FORMAT", "json"),
            ("STROM_API__TRUSTED_NETWORKS", "[\"10.0.0.0/8\"]"),
        ];
        let c = load_in_jail("", &env, Overrides::default()).unwrap();
        assert_eq!(
            c.stream.publish_conflict,
            super::super::PublishConflict::Kick
        );
        assert_eq!(c.log.format, super::super::LogFormat::Json);
        assert_eq!(c.api.trusted_networks[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn unknown_key_in_file_is_named_with_its_origin() {
        let e = load_in_jail("[rtmp]\nprot = 1\n", &[], Overrides::default()).unwrap_err();
        assert!(e.contains("`rtmp.prot`"), "{e}");
        assert!(e.contains("unknown key"), "{e}");
        assert!(e.contains("strom.toml"), "{e}");
    }

    #[test]
    fn unknown_env_key_names_the_variable() {
        let e = load_in_jail("", &[("STROM_RTMP__NOPE", "1")], Overrides::default()).unwrap_err();
        assert!(e.contains("`rtmp.nope`"), "{e}");
        assert!(e.contains("STROM_RTMP__NOPE"), "{e}");
    }

    #[test]
    fn invalid_value_is_named() {
        let e = load_in_jail("[rtmp]\nport = \"abc\"\n", &[], Overrides::default()).unwrap_err();
        assert!(e.contains("`rtmp.port`"), "{e}");
        assert!(e.contains("strom.toml"), "{e}");
        let e = load_in_jail(
            "",
            &[("STROM_STREAM__PUBLISH_CONFLICT", "steal")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.contains("`stream.publish_conflict`"), "{e}");
        assert!(e.contains("STROM_STREAM__PUBLISH_CONFLICT"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let e = load_in_jail("[stream]\nmax_lag_ms = 0\n", &[], Overrides::default()).unwrap_err();
        assert!(e.contains("`stream.max_lag_ms`"), "{e}");
        let e = load_in_jail("[log]\nlevel = \"loud[\"\n", &[], Overrides::default()).unwrap_err();
        assert!(e.contains("`log.level`"), "{e}");
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let o = Overrides {
            config_file: Some("/nonexistent/strom.toml".into()),
            ..Overrides::default()
        };
        let e = load_in_jail("", &[], o).unwrap_err();
        assert!(e.contains("/nonexistent/strom.toml"), "{e}");
    }

    #[test]
    fn print_config_round_trips() {
        let c = Config::default();
        let text = c.to_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }
}
