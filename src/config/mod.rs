//! Loading `gateway.toml` (with `ORDERMUX__SECTION__KEY` environment overrides) and validating it from raw to
//! typed, reporting every problem at once. The only module that reads configuration files or the environment.

mod raw;

use std::path::{Path, PathBuf};

use crate::canonical::Currency;

/// Where the configuration comes from when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "gateway.toml";

/// Validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub defaults: Defaults,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Currency for documents that carry none (BigCommerce v2 create requests).
    pub currency: Currency,
}

/// Everything wrong with a configuration, each problem on its own line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration in {source_name}:\n  {}", problems.join("\n  "))]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Config {
    /// Loads `path` (or `gateway.toml` in the working directory, which may be absent) plus environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let source_name = file.display().to_string();
        let fail = |problems: Vec<String>| ConfigError {
            source_name: source_name.clone(),
            problems,
        };
        let built = config::Config::builder()
            .add_source(
                config::File::from(file.as_path())
                    .format(config::FileFormat::Toml)
                    .required(required),
            )
            .add_source(
                config::Environment::with_prefix("ORDERMUX")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .map_err(|e| fail(vec![e.to_string()]))?;
        let raw: raw::RawConfig = built
            .try_deserialize()
            .map_err(|e| fail(vec![e.to_string()]))?;
        Config::try_from(raw).map_err(fail)
    }
}

impl TryFrom<raw::RawConfig> for Config {
    type Error = Vec<String>;

    fn try_from(raw: raw::RawConfig) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let currency_text = raw.defaults.currency.unwrap_or_else(|| "USD".to_owned());
        let currency = Currency::parse(&currency_text)
            .map_err(|e| problems.push(format!("defaults.currency: {e}")));
        match currency {
            Ok(currency) if problems.is_empty() => Ok(Config {
                defaults: Defaults { currency },
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_gateway_toml_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
        let cfg = Config::load(Some(&path)).unwrap();
        assert_eq!(cfg.defaults.currency.as_str(), "USD");
    }

    #[test]
    fn bad_currency_is_reported_with_its_key() {
        let raw = raw::RawConfig {
            defaults: raw::RawDefaults {
                currency: Some("usd".into()),
            },
        };
        let problems = Config::try_from(raw).unwrap_err();
        assert!(problems[0].starts_with("defaults.currency"), "{problems:?}");
    }
}
