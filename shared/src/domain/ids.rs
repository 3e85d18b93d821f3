//! Identifiers. Each is checked once at the boundary so that keys built from them can
//! never contain the separator `#` or `/` or be empty.

use compact_str::CompactString;
use std::fmt;

fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && s != "."
        && s != ".."
}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        /// Kept inline up to 24 bytes (most ids): a copy or a comparison of one touches
        /// no other memory.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(CompactString);

        impl $name {
            /// Accepts 1-128 characters of `A-Z a-z 0-9 - _ .`.
            pub fn parse(s: &str) -> Result<Self, String> {
                if is_safe_id(s) {
                    Ok(Self(CompactString::from(s)))
                } else {
                    Err(format!(
                        "{} '{}' is not valid: use 1-128 letters, digits, '-', '_' or '.'",
                        $what,
                        s.chars().take(64).collect::<String>()
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(OrgId, "organisation id");
id_type!(ImportId, "import id");
id_type!(PersonId, "person id");
id_type!(TrainingId, "training id");

impl ImportId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string().into())
    }
}

impl TrainingId {
    pub fn generate() -> Self {
        Self(format!("trn-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]).into())
    }
}

impl PersonId {
    pub fn generate() -> Self {
        Self(format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_separators_and_empty_values() {
        assert!(OrgId::parse("acme").is_ok());
        assert!(OrgId::parse("").is_err());
        assert!(OrgId::parse("a#b").is_err());
        assert!(OrgId::parse("a/b").is_err());
        assert!(OrgId::parse("..").is_err());
        assert!(ImportId::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn generated_ids_are_valid() {
        assert!(ImportId::parse(ImportId::generate().as_str()).is_ok());
        assert!(PersonId::parse(PersonId::generate().as_str()).is_ok());
        assert!(TrainingId::parse(TrainingId::generate().as_str()).is_ok());
    }
}
