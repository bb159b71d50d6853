//! Fixture discovery and shared helpers.

use std::path::{Path, PathBuf};

use ordermux::canonical::{Currency, Platform};
use ordermux::dialects::{self, DecodeOptions, Decoded, DocumentKind};
use serde_json::Value;

pub const FORMS: [DocumentKind; 2] = [DocumentKind::Request, DocumentKind::Order];

/// xorshift64 for tests that draw random sequences: small, the same on every platform, so a seed (printed with a
/// failure) replays its sequence.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from the clock: a new sequence each run. The seed is the value to print.
    pub fn from_clock() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A draw in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the checkout (CI clones the project with `shared/` next to it).
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("ORDERMUX_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    assert!(
        dir.join("specs").is_dir(),
        "the platform specs are expected at {}",
        dir.display()
    );
    dir
}

/// A fixture file with what its place in `fixtures/<dialect>/<kind>/<ok|err>/` says about it.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub path: PathBuf,
    pub dialect: Platform,
    pub kind: DocumentKind,
    pub name: String,
}

impl Fixture {
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes()).unwrap()
    }
    pub fn decode(&self) -> Decoded {
        dialects::decode(self.dialect, &self.bytes(), &options())
            .unwrap_or_else(|p| panic!("{}: {p}", self.path.display()))
    }
    /// `bigcommerce-order-0003_status_…` — unique across the tree.
    pub fn id(&self) -> String {
        format!("{}-{}-{}", self.dialect.name(), self.kind.name(), self.name)
    }
}

pub fn options() -> DecodeOptions {
    DecodeOptions {
        default_currency: Some(Currency::parse("USD").unwrap()),
    }
}

fn list(outcome: &str) -> Vec<Fixture> {
    let mut out = Vec::new();
    for dialect in Platform::ALL {
        for kind in FORMS {
            let dir = root()
                .join("fixtures")
                .join(dialect.name())
                .join(kind.name())
                .join(outcome);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let path = e.unwrap().path();
                if path.extension().and_then(|x| x.to_str()) == Some("json") {
                    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                    out.push(Fixture {
                        path,
                        dialect,
                        kind,
                        name,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

pub fn ok_fixtures() -> Vec<Fixture> {
    let all = list("ok");
    assert!(
        all.len() >= 30,
        "expected the ok fixtures under fixtures/, found {}",
        all.len()
    );
    all
}

pub fn err_fixtures() -> Vec<Fixture> {
    list("err")
}

pub fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}
