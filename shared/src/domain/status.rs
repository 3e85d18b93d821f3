//! The enumerations of the import lifecycle, with their stable wire names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    ($name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{}' is not one of: {}",
                        other.chars().take(40).collect::<String>(),
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}

wire_enum!(MatchMethod {
    Email => "email",
    Phone => "phone",
    Name => "name",
    Hris => "hris",
});

wire_enum!(Outcome {
    Ready => "ready",
    Pending => "pending",
    Error => "error",
    Skipped => "skipped",
});

// Where a row is in its life after validation. `validated` until the commit touches it.
wire_enum!(RowStatus {
    Validated => "validated",
    Imported => "imported",
    Pending => "pending",
    Applied => "applied",
    Deleted => "deleted",
    NotImported => "not_imported",
});

wire_enum!(ImportStatus {
    Created => "created",
    Uploaded => "uploaded",
    Validating => "validating",
    Validated => "validated",
    Importing => "importing",
    Imported => "imported",
    Failed => "failed",
});

impl MatchMethod {
    /// Advice shown to admins when they choose a method (SPEC.md).
    pub fn advice(self) -> &'static str {
        match self {
            MatchMethod::Hris => {
                "Best where an HR system is connected: employee IDs are stable and unique."
            }
            MatchMethod::Email => {
                "The usual choice: works for everyone who signs up with an email address."
            }
            MatchMethod::Phone => "Suits frontline teams who sign up with a mobile number.",
            MatchMethod::Name => {
                "The weakest key: two people can share a name, and such rows are errors."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for m in MatchMethod::ALL {
            assert_eq!(m.as_str().parse::<MatchMethod>().unwrap(), *m);
        }
        for s in RowStatus::ALL {
            assert_eq!(s.as_str().parse::<RowStatus>().unwrap(), *s);
        }
        assert!("EMAIL".parse::<MatchMethod>().is_err());
    }
}
